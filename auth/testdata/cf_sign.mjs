// Signs paths the way Cloudflare's "Sign requests" Worker example does, with
// Web Crypto (crypto.subtle). Usage:
//   node cf_sign.mjs <secret> <unix-ts> <url> [<url>...]
// prints one line per URL: the signed URL (`${url}?verify=${encodeURIComponent(...)}`).
const [secret, ts, ...urls] = process.argv.slice(2);
const encoder = new TextEncoder();
const key = await crypto.subtle.importKey(
  "raw",
  encoder.encode(secret),
  { name: "HMAC", hash: "SHA-256" },
  false,
  ["sign", "verify"],
);
const timestamp = Number(ts);
for (const u of urls) {
  const url = new URL(u);
  const dataToAuthenticate = `${url.pathname}${timestamp}`;
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(dataToAuthenticate));
  const base64Mac = btoa(String.fromCharCode(...new Uint8Array(mac)));
  const signed = `${timestamp}-${base64Mac}`;
  console.log(`${url}?verify=${encodeURIComponent(signed)}`);
}
