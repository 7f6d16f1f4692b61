// Verifies one of keygate's identity assertions with jose (not keygate's JWT code):
// node verify-assertion.mjs JWKS_URL TOKEN ISSUER AUDIENCE
// Prints {"ok": true, "payload": …, "header": …} or {"ok": false, "code": …}.
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [jwksUrl, token, issuer, audience] = process.argv.slice(2);
const jwks = createRemoteJWKSet(new URL(jwksUrl));
try {
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer,
    audience,
    algorithms: ['EdDSA'],
  });
  console.log(JSON.stringify({ ok: true, payload, header: protectedHeader }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, code: e.code, message: e.message }));
}
