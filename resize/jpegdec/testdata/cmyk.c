/* Writes Adobe CMYK (inverted, transform 0) and YCCK (transform 2) JPEGs from src.ppm with
 * libjpeg: cmyk.c OUT.jpg cmyk|ycck progressive(0|1). C, M, Y are the inverses of R, G, B
 * and K a horizontal ramp, so every channel carries detail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>

int main(int argc, char **argv) {
	if (argc != 5) { fprintf(stderr, "usage: cmyk SRC.ppm OUT.jpg cmyk|ycck 0|1\n"); return 2; }
	FILE *in = fopen(argv[1], "rb");
	int w, h, maxv;
	if (!in || fscanf(in, "P6 %d %d %d", &w, &h, &maxv) != 3) { fprintf(stderr, "bad ppm\n"); return 1; }
	fgetc(in);
	unsigned char *rgb = malloc(w * h * 3);
	if (fread(rgb, 3, w * h, in) != (size_t)(w * h)) { fprintf(stderr, "short ppm\n"); return 1; }
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr e;
	FILE *f = fopen(argv[2], "wb");
	c.err = jpeg_std_error(&e);
	jpeg_create_compress(&c);
	jpeg_stdio_dest(&c, f);
	c.image_width = w;
	c.image_height = h;
	c.input_components = 4;
	c.in_color_space = JCS_CMYK;
	jpeg_set_defaults(&c);
	jpeg_set_colorspace(&c, strcmp(argv[3], "ycck") == 0 ? JCS_YCCK : JCS_CMYK);
	jpeg_set_quality(&c, 90, TRUE);
	if (argv[4][0] == '1') jpeg_simple_progression(&c);
	jpeg_start_compress(&c, TRUE);
	unsigned char *row = malloc(w * 4);
	while (c.next_scanline < (JDIMENSION)h) {
		unsigned char *p = rgb + c.next_scanline * w * 3;
		for (int x = 0; x < w; x++) {
			row[4 * x] = 255 - p[3 * x];
			row[4 * x + 1] = 255 - p[3 * x + 1];
			row[4 * x + 2] = 255 - p[3 * x + 2];
			row[4 * x + 3] = 255 - 255 * x / w;
		}
		JSAMPROW r = row;
		jpeg_write_scanlines(&c, &r, 1);
	}
	jpeg_finish_compress(&c);
	fclose(f);
	return 0;
}
