#!/bin/sh
# Remakes the JPEG corpus of this folder (Debian bookworm: libjpeg-turbo-progs 2.1.5,
# libjpeg62-turbo-dev, gcc, python3). Run from resize/jpegdec/testdata.
set -eu
python3 src.py 128 96 /tmp/jpegdec-src
python3 src.py 37 23 /tmp/jpegdec-odd
gcc -O2 -o /tmp/jpegdec-cmyk cmyk.c -ljpeg
S=/tmp/jpegdec-src.ppm O=/tmp/jpegdec-odd.ppm
cjpeg -quality 90 -sample 1x1 $S > s444.jpg
cjpeg -quality 80 -sample 2x1 $S > s422.jpg
cjpeg -quality 80 -sample 1x2 $S > s440.jpg
cjpeg -quality 80 -sample 4x1 $S > s411.jpg
cjpeg -quality 80 -sample 4x2 $S > s410.jpg
cjpeg -quality 85 -sample 2x2 -optimize $S > s420-optimized.jpg
cjpeg -quality 75 -sample 2x2 -restart 1 $S > s420-restart-rows.jpg
cjpeg -quality 75 -sample 1x1 -restart 7B $S > s444-restart-7mcu.jpg
cjpeg -quality 85 -progressive $S > prog420.jpg
cjpeg -quality 95 -progressive -sample 1x1 $S > prog444.jpg
cjpeg -quality 80 -progressive -sample 2x1 -restart 3B $S > prog422-restart.jpg
cjpeg -quality 80 -progressive -sample 4x1 $O > prog411-odd.jpg
cjpeg -quality 80 -sample 2x2 $O > s420-odd.jpg
cjpeg -quality 80 -sample 1x2 -restart 2B $O > s440-odd-restart.jpg
cjpeg -quality 85 -grayscale $S > gray.jpg
cjpeg -quality 85 -grayscale -progressive /tmp/jpegdec-odd.pgm > gray-prog-odd.jpg
cjpeg -quality 85 -rgb -sample 1x1 $S > rgb.jpg
cjpeg -quality 85 -rgb -sample 1x1 -progressive $S > rgb-prog.jpg
mkdir -p unsupported
cjpeg -quality 85 -arithmetic $S > unsupported/arithmetic.jpg
/tmp/jpegdec-cmyk $S cmyk.jpg cmyk 0
/tmp/jpegdec-cmyk $S cmyk-prog.jpg cmyk 1
/tmp/jpegdec-cmyk $S ycck.jpg ycck 0
/tmp/jpegdec-cmyk $O ycck-prog-odd.jpg ycck 1
# image/jpeg cannot decode this one ("missing 0xff00 sequence"): djpeg's decode is its reference.
djpeg -dct int -nosmooth -ppm prog422-restart.jpg > prog422-restart.ref.ppm
