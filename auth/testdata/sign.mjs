// Signs a URL path for r2gate's signed_url (native scheme) with Web Crypto
// (crypto.subtle: Node 18+, Deno, browsers, Cloudflare Workers). Usage:
//   node sign.mjs <path> <kid> <secret> <exp> [<name>=<value> ...]
// prints <canonical path>?<canonical query>&sig=<sig>. Values are given
// decoded (w=400, "q=a b"). The README's JavaScript snippet is signUrl below.
const utf8 = (s) => new TextEncoder().encode(s);

// Percent-encodes every byte but A-Z a-z 0-9 - . _ ~ (upper-case hex).
function enc(bytes) {
  let s = "";
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    s += /[A-Za-z0-9\-._~]/.test(c) ? c : "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return s;
}

// Percent-decodes a path segment to bytes.
function dec(segment) {
  const raw = utf8(segment), out = [];
  for (let i = 0; i < raw.length; i++) {
    const hex = String.fromCharCode(raw[i + 1], raw[i + 2]);
    if (raw[i] === 37 && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      out.push(parseInt(hex, 16));
      i += 2;
    } else out.push(raw[i]);
  }
  return out;
}

export async function signUrl(path, params, kid, secret, exp) {
  if (!path.startsWith("/")) path = "/" + path;
  const cpath = path.split("/").map((s) => enc(dec(s))).join("/");
  const q = { ...params, exp: String(exp), kid };
  delete q.sig;
  const cquery = Object.entries(q)
    .map(([k, v]) => [enc(utf8(k)), enc(utf8(String(v)))])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const key = await crypto.subtle.importKey("raw", utf8(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, utf8(`R2GATE-HMAC-SHA256\n${cpath}\n${cquery}`));
  const sig = btoa(String.fromCharCode(...new Uint8Array(mac)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return `${cpath}?${cquery}&sig=${sig}`;
}

if (process.argv[1]?.endsWith("sign.mjs")) {
  const [path, kid, secret, exp, ...rest] = process.argv.slice(2);
  if (exp === undefined) {
    console.error("usage: node sign.mjs <path> <kid> <secret> <exp> [<name>=<value> ...]");
    process.exit(2);
  }
  const params = Object.fromEntries(rest.map((a) => (a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, ""])));
  console.log(await signUrl(path, params, kid, secret, exp || Math.floor(Date.now() / 1000) + 3600));
}
