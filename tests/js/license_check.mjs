// Independent check of imsp2p licenses with the npm package "jose" (used by
// tests/integration/test_license_interop.cpp).
//
// Usage: node license_check.mjs <license file> <DRM JWK Set file> <device private JWK file> <now>
//   <now> is the verification time in NumericDate seconds.
//
// Verifies the license as a JWT (alg EdDSA, typ "imsp2p-license+jwt", key chosen by "kid" from
// the JWK Set, exp/nbf checked at <now>), checks that cnf.jkt is the RFC 7638 thumbprint of the
// device key, and decrypts the "cek" claim (compact JWE, ECDH-ES+A256KW / A256GCM) with the
// device's X25519 private JWK. Writes one JSON object on stdout:
//   {"ok":true, "header":{...}, "payload":{...}, "thumbprint":..., "cnf_matches":bool,
//    "cek":b64u, "cek_header":{...}}
// or {"ok":false, "stage":"verify"|"decrypt"|..., "error":...}. Exit status 0 in both cases;
// 2 on a usage or I/O error.

import { readFile } from 'node:fs/promises';

import {
  base64url,
  calculateJwkThumbprint,
  compactDecrypt,
  createLocalJWKSet,
  importJWK,
  jwtVerify,
} from 'jose';

async function main() {
  const [licensePath, jwksPath, devicePath, nowText] = process.argv.slice(2);
  if (!licensePath || !jwksPath || !devicePath || !nowText) {
    process.stderr.write('usage: license_check.mjs <license> <jwks> <device jwk> <now>\n');
    process.exit(2);
  }
  const license = (await readFile(licensePath, 'utf8')).trim();
  const jwks = JSON.parse(await readFile(jwksPath, 'utf8'));
  const deviceJwk = JSON.parse(await readFile(devicePath, 'utf8'));
  const now = new Date(Number(nowText) * 1000);

  let stage = 'verify';
  try {
    const { payload, protectedHeader } = await jwtVerify(license, createLocalJWKSet(jwks), {
      algorithms: ['EdDSA'],
      typ: 'imsp2p-license+jwt',
      currentDate: now,
      requiredClaims: ['iss', 'sub', 'iat', 'exp', 'jti'],
    });
    stage = 'thumbprint';
    const { d, ...devicePublic } = deviceJwk;
    void d;
    const thumbprint = await calculateJwkThumbprint(devicePublic, 'sha256');
    stage = 'decrypt';
    const deviceKey = await importJWK(deviceJwk, 'ECDH-ES+A256KW');
    const { plaintext, protectedHeader: cekHeader } = await compactDecrypt(payload.cek, deviceKey, {
      keyManagementAlgorithms: ['ECDH-ES+A256KW'],
      contentEncryptionAlgorithms: ['A256GCM'],
    });
    process.stdout.write(
      JSON.stringify({
        ok: true,
        header: protectedHeader,
        payload,
        thumbprint,
        cnf_matches: payload.cnf?.jkt === thumbprint,
        cek: base64url.encode(plaintext),
        cek_header: cekHeader,
      }),
    );
  } catch (error) {
    process.stdout.write(
      JSON.stringify({ ok: false, stage, error: `${error.code ?? error.name}: ${error.message}` }),
    );
  }
}

main().catch((error) => {
  process.stderr.write(`license_check: ${error.stack ?? error}\n`);
  process.exit(2);
});
