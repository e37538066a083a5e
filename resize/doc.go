// Package resize is r2gate's image-variant layer, without a Caddy import: URL
// options, decoding within limits, the transform, encoding, and the queue
// that admits resizes. The handler (caddymodule) wires it to the cache and
// the bucket.
//
// # Options
//
// Two URL forms give the same [Options]:
//
//   - the query form on the object URL, /photo.jpg?w=400&fit=cover, parsed by
//     [Parser.ParseQuery]: only the option names w, h, fit, q, format, dpr,
//     gravity, background, anim and metadata are read; every other query
//     parameter (cache busters such as v=3, and a signed URL's sig, exp, kid,
//     verify or token) is ignored and never part of the result;
//   - Cloudflare's path form, /cdn-cgi/image/width=400,fit=cover/photo.jpg,
//     parsed by [Parser.ParseCloudflare], with Cloudflare's option names and
//     aliases; an unknown option is an error, and the source must be a path in
//     this site (an absolute or protocol-relative URL is refused).
//
// Every error either parser returns is the client's fault (the handler answers
// 400) and is returned before any bucket work. Option semantics follow
// Cloudflare's Image Resizing; see [Options] for each field and its default.
//
// [Options.Canonical] is the variant's name: aliases resolved, defaults
// dropped, dpr folded into the pixel sizes, names in alphabetical order. It is
// what cache keys and variant keys are made of, so ?q=80&w=400, ?w=400&q=80 and
// /cdn-cgi/image/width=400,quality=80/... are one variant. [VariantKey] places
// a variant in the bucket from a variant_key template.
//
// # The pipeline
//
//  1. [Sniff] names the format from the first bytes (SVG is never
//     rasterised); [Probe] reads the headers and estimates the decode's
//     memory ([Info.DecodeBytes]) without decoding a pixel; [Decode] checks
//     [DecodeLimits] (object size before reading, pixels and frames from the
//     headers before any pixel) and returns a [Source] with its frames, EXIF
//     orientation and ICC profile. A JPEG is decoded by shrink-on-load:
//     [ShrinkOnLoad] picks the largest reduction 1/2, 1/4 or 1/8 that still
//     leaves the output's pixels ([JPEGShrink]), resize/jpegdec decodes at
//     it through scaled inverse DCTs ([Decoder.JPEGScale]), and image/jpeg
//     decodes at full size what jpegdec does not support. Errors are [*DecodeError]s whose status
//     [DecodeStatus] gives (415, 422, or 500 for a recovered decoder panic).
//  2. [PlanGeometry] turns the source size and [Options] into a [Geometry]
//     (Cloudflare's fit modes and gravity; [Source.PlanGeometry] plans on
//     the full-size source and maps it to a reduced decode with
//     [ScaleGeometry]); [TransformSource] orients,
//     composites animation frames and resamples (Catmull-Rom in premultiplied
//     float32, with an integer box pre-shrink for large reductions, over row
//     bands on N goroutines, the same bytes for any N).
//  3. [ToSRGB] converts ICC matrix/TRC (and gray) profiles to sRGB.
//  4. [Negotiate] picks the output format for format=auto from Accept, and
//     [EncodeAnimation] writes JPEG, PNG or GIF (animated GIFs keep their
//     frames); WebP only in builds with the nodynamic tag ([CanEncode]),
//     AVIF in none ([ErrFormatUnavailable]).
//  5. [Queue] bounds resizes running at once and the memory they hold
//     ([TransformBytes], [Info.DecodeBytes]), with a bounded FIFO wait.
//
// [Processor.Process] runs all of it for one variant. Not yet here: LUT
// and CMYK ICC profiles (used unconverted, see [Result.ColorManaged]),
// metadata=keep/copyright (encoders write no metadata), animated WebP
// output.
package resize
