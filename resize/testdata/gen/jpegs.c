/* Writes the small JPEG seeds that image/jpeg cannot make: a progressive
 * colour JPEG, a progressive grayscale one, an Adobe CMYK one (inverted,
 * as Photoshop writes them) and an Adobe YCCK one, with libjpeg(-turbo).
 * Build and run from this folder: see README.md. */
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>

#define W 24
#define H 16

static void write(const char *name, int comps, J_COLOR_SPACE in, J_COLOR_SPACE out, int progressive) {
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr e;
	FILE *f = fopen(name, "wb");
	if (!f) { perror(name); exit(1); }
	c.err = jpeg_std_error(&e);
	jpeg_create_compress(&c);
	jpeg_stdio_dest(&c, f);
	c.image_width = W;
	c.image_height = H;
	c.input_components = comps;
	c.in_color_space = in;
	jpeg_set_defaults(&c);
	jpeg_set_colorspace(&c, out);
	jpeg_set_quality(&c, 90, TRUE);
	if (progressive) jpeg_simple_progression(&c);
	jpeg_start_compress(&c, TRUE);
	JSAMPLE row[W * 4];
	while (c.next_scanline < H) {
		int y = c.next_scanline;
		for (int x = 0; x < W; x++) {
			JSAMPLE *p = row + x * comps;
			if (comps == 1) {
				p[0] = x * 10;
			} else if (comps == 3) {
				p[0] = x * 10; p[1] = y * 15; p[2] = 128;
			} else {
				/* left half: cyan ink, right half: black ink; stored
				 * inverted (255 = no ink), as Adobe does */
				int left = x < W / 2;
				p[0] = left ? 0 : 255; p[1] = 255; p[2] = 255; p[3] = left ? 255 : 0;
			}
		}
		JSAMPROW rows[1] = {row};
		jpeg_write_scanlines(&c, rows, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	fclose(f);
}

int main(void) {
	write("../progressive.jpg", 3, JCS_RGB, JCS_YCbCr, 1);
	write("../progressive-gray.jpg", 1, JCS_GRAYSCALE, JCS_GRAYSCALE, 1);
	write("../adobe-cmyk.jpg", 4, JCS_CMYK, JCS_CMYK, 0);
	write("../adobe-ycck.jpg", 4, JCS_CMYK, JCS_YCCK, 0);
	return 0;
}
