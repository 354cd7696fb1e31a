// tests/identity/idp.mjs - a real OpenID Connect issuer for Pilot's e2e
// tests (test-only; not part of Pilot): oauth2-mock-server serving
// discovery (/.well-known/openid-configuration) and its JWKS over HTTPS
// with a test CA's certificate, plus tokens minted with its own keys and,
// for the refusals, crafted with jose.
//
//   node idp.mjs DIR KEY.pem CERT.pem PORT AUDIENCE
//
// Writes DIR/issuer (the issuer URL) and DIR/NAME.jwt for each token below,
// then DIR/ready.  Control, by files (the test runs in another shell):
//   SIGUSR1: add a new RS256 key "k-new" to the JWKS (a rollover) and write
//            DIR/rollover.jwt signed with it, DIR/ghost.jwt signed by a key
//            the JWKS never holds ("k-ghost"), then DIR/rollover.ready
//   SIGUSR2: for each line "NAME SUB SECONDS" of DIR/mint, write DIR/NAME.jwt
//            (sub SUB, exp in SECONDS), then DIR/mint.done
// Exits on SIGTERM, or after --max-seconds (the 6th argument, default 600).
import { OAuth2Server } from 'oauth2-mock-server';
import * as jose from 'jose';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const [dir, keyFile, certFile, portArg, aud, maxArg] = process.argv.slice(2);
const write = (name, text) => fs.writeFileSync(path.join(dir, name), text);
const b64 = (s) => Buffer.from(s).toString('base64url');

const server = new OAuth2Server(keyFile, certFile);
await server.issuer.keys.generate('RS256', { kid: 'k-rsa' });
await server.issuer.keys.generate('ES256', { kid: 'k-ec' });
// The issuer is named as the certificate names the host (the mock would
// say "localhost").
server.issuer.url = `https://127.0.0.1:${portArg}`;
await server.start(Number(portArg), '127.0.0.1');
const iss = server.issuer.url;

// A token from the issuer's own key \p kid, with \p claims over the usual.
function mint(sub, claims = {}, opts = {}) {
	return server.issuer.buildToken({
		kid: opts.kid ?? 'k-rsa',
		expiresIn: opts.expiresIn ?? 3600,
		scopesOrTransform: (header, payload) => {
			payload.sub = sub;
			payload.aud = aud;
			payload.jti = randomUUID();
			Object.assign(payload, claims);
		},
	});
}

async function privateKey(kid) {
	const jwk = server.issuer.keys.toJSON(true).find((k) => k.kid === kid);
	return jose.importJWK(jwk, jwk.alg);
}

const now = Math.floor(Date.now() / 1000);
const base = (sub) => ({ iss, sub, aud, exp: now + 3600, iat: now, jti: randomUUID() });

write('good-a.jwt', await mint('alice', { groups: ['ops', 'dev'], email: 'alice@example.org' }));
write('good-b.jwt', await mint('bob', { groups: ['dev'] }, { kid: 'k-ec' }));
write('same-sub.jwt', await mint('alice', { groups: ['ops'] }));
write('no-group.jwt', await mint('erin', { groups: ['dev'] }));
write('wrong-iss.jwt', await mint('carol', { iss: 'https://issuer.invalid' }));
write('wrong-aud.jwt', await mint('carol', { aud: 'someone-else' }));
write('expired.jwt', await mint('carol', { exp: now - 600, nbf: now - 1200, iat: now - 1200 }));
write('notyet.jwt', await mint('carol', { nbf: now + 600, exp: now + 1200 }));
{
	// The payload of a good token changed after signing.
	const [h, p, s] = (await mint('carol')).split('.');
	const claims = JSON.parse(Buffer.from(p, 'base64url'));
	claims.sub = 'mallory';
	write('tampered.jwt', `${h}.${b64(JSON.stringify(claims))}.${s}`);
}
{
	// Signed by a key of another issuer, claiming the issuer's kid.
	const other = await jose.generateKeyPair('RS256');
	write('otherkey.jwt', await new jose.SignJWT(base('carol'))
		.setProtectedHeader({ alg: 'RS256', kid: 'k-rsa', typ: 'JWT' }).sign(other.privateKey));
}
// alg none: no signature at all.
write('none.jwt', `${b64(JSON.stringify({ alg: 'none', typ: 'JWT', kid: 'k-rsa' }))}.` +
	`${b64(JSON.stringify(base('carol')))}.`);
{
	// HS256 "signed" with the issuer's public key as the HMAC secret (the
	// classic key-confusion attack on verifiers that take alg from the token).
	const pub = server.issuer.keys.toJSON(false).find((k) => k.kid === 'k-rsa');
	const pem = await jose.exportSPKI(await jose.importJWK(pub, 'RS256'));
	write('hs256.jwt', await new jose.SignJWT(base('carol'))
		.setProtectedHeader({ alg: 'HS256', kid: 'k-rsa', typ: 'JWT' })
		.sign(new TextEncoder().encode(pem)));
}
write('oversized.jwt', await mint('carol', { pad: 'x'.repeat(9000) }));
{
	// A payload naming sub twice, signed by the issuer's key: which one a
	// parser believes is up to the parser.
	const text = `{"iss":${JSON.stringify(iss)},"sub":"dave","sub":"alice","aud":` +
		`${JSON.stringify(aud)},"exp":${now + 3600},"iat":${now}}`;
	write('dupkeys.jwt', await new jose.CompactSign(new TextEncoder().encode(text))
		.setProtectedHeader({ alg: 'RS256', kid: 'k-rsa', typ: 'JWT' })
		.sign(await privateKey('k-rsa')));
}
write('issuer', iss);
write('ready', 'ok');

process.on('SIGUSR1', async () => {
	await server.issuer.keys.generate('RS256', { kid: 'k-new' });
	write('rollover.jwt', await mint('frank', { groups: ['ops'] }, { kid: 'k-new' }));
	const ghost = await jose.generateKeyPair('RS256');
	write('ghost.jwt', await new jose.SignJWT({ ...base('grace'), groups: ['ops'] })
		.setProtectedHeader({ alg: 'RS256', kid: 'k-ghost', typ: 'JWT' }).sign(ghost.privateKey));
	write('rollover.ready', 'ok');
});
process.on('SIGUSR2', async () => {
	const lines = fs.readFileSync(path.join(dir, 'mint'), 'utf8').split('\n').filter(Boolean);
	for (const l of lines) {
		const [name, sub, secs] = l.split(/\s+/);
		write(`${name}.jwt`, await mint(sub, {}, { expiresIn: Number(secs) }));
	}
	write('mint.done', 'ok');
});
const stop = async () => {
	await server.stop();
	process.exit(0);
};
process.on('SIGTERM', stop);
setTimeout(stop, Number(maxArg ?? 600) * 1000).unref();
