// Independent JOSE implementation (npm "jose") used by the imsp2p interop tests.
//
// Reads one JSON request on stdin and writes one JSON answer on stdout. A request is either a
// single operation or {"requests":[op, ...]}, answered by {"responses":[answer, ...]}.
// Binary values travel as base64url. Each answer is {"ok":true, ...} or {"ok":false,"error":..}.
//
// Operations:
//   {"op":"verify_jws",  "jws":..., "jwk":{public Ed25519}}     -> {"payload":b64u,"header":{}}
//   {"op":"decrypt_jwe", "jwe":..., "jwk":{private X25519}}     -> {"plaintext":b64u,"header":{}}
//   {"op":"sign_jws",    "payload":b64u, "jwk":{private Ed25519}, "header":{}?} -> {"jws":...}
//   {"op":"encrypt_jwe", "plaintext":b64u, "jwk":{public X25519}, "header":{}?,
//                        "alg":"ECDH-ES+A256KW"|"ECDH-ES"?, "apu":b64u?, "apv":b64u?}
//                                                                -> {"jwe":...}
//   {"op":"thumbprint",  "jwk":{...}}                            -> {"thumbprint":...}
//   {"op":"generate",    "crv":"Ed25519"|"X25519"}               -> {"jwk":{private JWK}}

import {
  CompactEncrypt,
  CompactSign,
  base64url,
  calculateJwkThumbprint,
  compactDecrypt,
  compactVerify,
  exportJWK,
  generateKeyPair,
  importJWK,
} from 'jose';

async function run(request) {
  switch (request.op) {
    case 'verify_jws': {
      const key = await importJWK(request.jwk, 'EdDSA');
      const { payload, protectedHeader } = await compactVerify(request.jws, key, {
        algorithms: ['EdDSA'],
      });
      return { payload: base64url.encode(payload), header: protectedHeader };
    }
    case 'decrypt_jwe': {
      const key = await importJWK(request.jwk, 'ECDH-ES+A256KW');
      const { plaintext, protectedHeader } = await compactDecrypt(request.jwe, key, {
        keyManagementAlgorithms: ['ECDH-ES+A256KW', 'ECDH-ES'],
        contentEncryptionAlgorithms: ['A256GCM'],
      });
      return { plaintext: base64url.encode(plaintext), header: protectedHeader };
    }
    case 'sign_jws': {
      const key = await importJWK(request.jwk, 'EdDSA');
      const jws = await new CompactSign(base64url.decode(request.payload))
        .setProtectedHeader({ ...(request.header ?? {}), alg: 'EdDSA' })
        .sign(key);
      return { jws };
    }
    case 'encrypt_jwe': {
      const alg = request.alg ?? 'ECDH-ES+A256KW';
      const key = await importJWK(request.jwk, alg);
      const parameters = {};
      if (request.apu !== undefined) parameters.apu = base64url.decode(request.apu);
      if (request.apv !== undefined) parameters.apv = base64url.decode(request.apv);
      const jwe = await new CompactEncrypt(base64url.decode(request.plaintext))
        .setProtectedHeader({ ...(request.header ?? {}), alg, enc: 'A256GCM' })
        .setKeyManagementParameters(parameters)
        .encrypt(key);
      return { jwe };
    }
    case 'thumbprint':
      return { thumbprint: await calculateJwkThumbprint(request.jwk, 'sha256') };
    case 'generate': {
      const { privateKey } = await generateKeyPair(request.crv === 'X25519' ? 'ECDH-ES' : 'EdDSA', {
        crv: request.crv,
        extractable: true,
      });
      return { jwk: await exportJWK(privateKey) };
    }
    default:
      throw new Error(`unknown op ${JSON.stringify(request.op)}`);
  }
}

async function answer(request) {
  try {
    return { ok: true, ...(await run(request)) };
  } catch (error) {
    return { ok: false, error: `${error.code ?? error.name}: ${error.message}` };
  }
}

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const request = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const result = Array.isArray(request.requests)
    ? { responses: await Promise.all(request.requests.map(answer)) }
    : await answer(request);
  process.stdout.write(JSON.stringify(result));
}

main().catch((error) => {
  process.stderr.write(`jose_check: ${error.stack ?? error}\n`);
  process.exit(2);
});
