// tests/identity/badidp.mjs - an OpenID issuer that misbehaves on demand,
// for the registry's key set fetcher (test-only; not part of Pilot): plain
// node:https serving discovery and a JWKS, and tokens signed with jose.
//
//   node badidp.mjs DIR KEY.pem CERT.pem PORT AUDIENCE MAX_SECONDS
//
// The issuer is https://127.0.0.1:PORT.  DIR/mode (re-read on every
// request) says how to answer:
//   good      discovery and JWKS, JWKS with Cache-Control: max-age=10
//   fail      discovery fine, JWKS answers 500
//   redirect  discovery answers 302 to https://localhost:PORT/... (another host)
//   otheriss  discovery names issuer https://issuer.invalid
// It also serves /bundle, a SPIFFE bundle endpoint holding the same key as
// a JWT-SVID authority (refresh hint 600 s).  Writes DIR/good.jwt and
// DIR/good2.jwt (kid k1), DIR/ghost.jwt (kid k-ghost, a key never
// published), DIR/svid.jwt (a JWT-SVID for spiffe://example.org/agents/x),
// DIR/issuer, then DIR/ready.  Each request is logged to
// stdout as "PATH MODE".
import https from 'node:https';
import fs from 'node:fs';
import path from 'node:path';
import * as jose from 'jose';

const [dir, keyFile, certFile, port, aud, maxArg] = process.argv.slice(2);
const iss = `https://127.0.0.1:${port}`;
const write = (n, t) => fs.writeFileSync(path.join(dir, n), t);
const mode = () => { try { return fs.readFileSync(path.join(dir, 'mode'), 'utf8').trim(); } catch { return 'good'; } };

const k1 = await jose.generateKeyPair('ES256');
const ghost = await jose.generateKeyPair('ES256');
const pub = { ...(await jose.exportJWK(k1.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
const now = Math.floor(Date.now() / 1000);
const claims = (sub) => ({ iss, sub, aud, exp: now + 3600, iat: now });
const sign = (key, kid, sub) =>
	new jose.SignJWT(claims(sub)).setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' }).sign(key);

const server = https.createServer(
	{ key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile) },
	(req, res) => {
		const m = mode();
		console.log(`${req.url} ${m}`);
		if (req.url === '/.well-known/openid-configuration') {
			if (m === 'redirect') {
				res.writeHead(302, { Location: `https://localhost:${port}${req.url}` });
				return res.end();
			}
			res.writeHead(200, { 'Content-Type': 'application/json' });
			return res.end(JSON.stringify({
				issuer: m === 'otheriss' ? 'https://issuer.invalid' : iss,
				jwks_uri: `${iss}/jwks`,
			}));
		}
		if (req.url === '/bundle') {
			// A SPIFFE bundle endpoint (https_web): the same key as a
			// JWT-SVID authority, whatever the mode.
			res.writeHead(200, { 'Content-Type': 'application/json' });
			return res.end(JSON.stringify({
				keys: [{ ...pub, use: 'jwt-svid' }], spiffe_refresh_hint: 600,
			}));
		}
		if (req.url === '/jwks') {
			if (m === 'fail') {
				res.writeHead(500);
				return res.end('down');
			}
			res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=10' });
			return res.end(JSON.stringify({ keys: [pub] }));
		}
		res.writeHead(404);
		res.end();
	});
server.listen(Number(port), '127.0.0.1', async () => {
	write('good.jwt', await sign(k1.privateKey, 'k1', 'gina'));
	write('good2.jwt', await sign(k1.privateKey, 'k1', 'hank'));
	write('ghost.jwt', await sign(ghost.privateKey, 'k-ghost', 'ivan'));
	write('svid.jwt', await new jose.SignJWT({ sub: 'spiffe://example.org/agents/x', aud,
		exp: now + 3600, iat: now }).setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'JWT' })
		.sign(k1.privateKey));
	write('issuer', iss);
	write('ready', 'ok');
});
process.on('SIGTERM', () => process.exit(0));
setTimeout(() => process.exit(0), Number(maxArg ?? 600) * 1000).unref();
