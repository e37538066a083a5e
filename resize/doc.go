// Package resize is r2gate's image-variant layer. This first part is the URL
// options layer only: it turns a request's resize options into one canonical
// variant, checks it against the configured limits, and names the variant's
// object in the bucket. It decodes no image and has no Caddy import.
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
// Still to come in this package (not built here): decoding the source within
// the source limits, the transform (fit modes, gravity, orientation, colour),
// encoding with format negotiation for format=auto, and the bounded resize
// queue with its write-back to the bucket.
package resize
