// tests/identity/workload.mjs - a SPIFFE Workload API server for Pilot's
// e2e tests (test-only; not part of Pilot): @grpc/grpc-js serving
// workload.proto (the SPIFFE Workload API spec's workloadapi.proto) on a
// unix socket.  FetchJWTSVID mints a JWT-SVID (ES256, header alg/kid/typ
// only; sub the workload's SPIFFE ID, aud the audiences asked for, exp
// LIFETIME seconds on); FetchJWTBundles streams the trust domain's JWT
// bundle.  A call without the `workload.spiffe.io: true` metadata is
// refused with INVALID_ARGUMENT, as the spec says.
//
//   node workload.mjs DIR SOCKET SPIFFE_ID LIFETIME [MAX_SECONDS]
//
// Writes DIR/bundle.jwks (the SPIFFE bundle: the public key, use
// "jwt-svid", kid "k-wl"), DIR/NAME.jwt for the crafted SVIDs below (for
// `network join --svid`), then DIR/ready.  Every SVID it issues is a line
// "SPIFFE_ID EXP" in DIR/issued.  Control (the test runs in another shell):
//   SIGUSR1: stop issuing: FetchJWTSVID answers UNAVAILABLE; DIR/stopped
//   SIGUSR2: issue again
// Exits on SIGTERM, or after MAX_SECONDS (default 600).
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import * as jose from 'jose';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const [dir, sock, spiffeId, lifeArg, maxArg] = process.argv.slice(2);
const lifetime = Number(lifeArg);
const write = (name, text) => fs.writeFileSync(path.join(dir, name), text);
const b64 = (s) => Buffer.from(s).toString('base64url');
const td = new URL(spiffeId).host;
const KID = 'k-wl';

const here = path.dirname(fileURLToPath(import.meta.url));
const def = protoLoader.loadSync(path.join(here, 'workload.proto'),
	{ keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
const api = grpc.loadPackageDefinition(def).SpiffeWorkloadAPI;

const key = await jose.generateKeyPair('ES256', { extractable: true });
const pub = await jose.exportJWK(key.publicKey);
const bundle = JSON.stringify({
	keys: [{ ...pub, kid: KID, use: 'jwt-svid' }],
	spiffe_refresh_hint: 60,
	spiffe_sequence: 1,
});
write('bundle.jwks', bundle);

const now = () => Math.floor(Date.now() / 1000);
function svid(sub, aud, exp, opts = {}) {
	const hdr = { alg: 'ES256', kid: opts.kid ?? KID, typ: 'JWT', ...(opts.header ?? {}) };
	return new jose.SignJWT({ sub, aud, exp, iat: now() })
		.setProtectedHeader(hdr).sign(opts.key ?? key.privateKey);
}

// The crafted SVIDs, audience "pilot".
{
	const t = now(), other = await jose.generateKeyPair('ES256');
	write('a.jwt', await svid(`spiffe://${td}/agents/a`, 'pilot', t + 3600));
	write('other-td.jwt', await svid('spiffe://other.org/agents/a', 'pilot', t + 3600));
	write('db.jwt', await svid(`spiffe://${td}/db/x`, 'pilot', t + 3600));
	write('wrong-aud.jwt', await svid(`spiffe://${td}/agents/c`, 'someone-else', t + 3600));
	write('expired.jwt', await svid(`spiffe://${td}/agents/c`, 'pilot', t - 600));
	write('extra-header.jwt', await svid(`spiffe://${td}/agents/c`, 'pilot', t + 3600,
		{ header: { cty: 'JWT' } }));
	write('otherkey.jwt', await svid(`spiffe://${td}/agents/c`, 'pilot', t + 3600,
		{ key: other.privateKey }));
	write('ghost.jwt', await svid(`spiffe://${td}/agents/c`, 'pilot', t + 3600,
		{ key: other.privateKey, kid: 'k-ghost' }));
}

let issuing = true;
// The spec: "All clients MUST include the metadata ... workload.spiffe.io
// with a value of true"; a server refuses others with InvalidArgument.
function secured(call) {
	const v = call.metadata.get('workload.spiffe.io');
	return v.length === 1 && String(v[0]) === 'true';
}
const refuse = (cb) => cb({ code: grpc.status.INVALID_ARGUMENT,
	details: 'security header missing from request' });

const server = new grpc.Server();
server.addService(api.service, {
	FetchJWTSVID: async (call, cb) => {
		if (!secured(call))
			return refuse(cb);
		const aud = call.request.audience;
		if (!aud.length)
			return cb({ code: grpc.status.INVALID_ARGUMENT, details: 'audience must be specified' });
		if (call.request.spiffe_id && call.request.spiffe_id !== spiffeId)
			return cb({ code: grpc.status.PERMISSION_DENIED, details: 'no identity issued' });
		if (!issuing)
			return cb({ code: grpc.status.UNAVAILABLE, details: 'issuing stopped (test)' });
		const exp = now() + lifetime;
		const tok = await svid(spiffeId, aud.length === 1 ? aud[0] : aud, exp);
		fs.appendFileSync(path.join(dir, 'issued'), `${spiffeId} ${exp}\n`);
		console.log(`${new Date().toISOString()} FetchJWTSVID aud=${aud.join(',')} -> ${spiffeId} exp ${exp}`);
		cb(null, { svids: [{ spiffe_id: spiffeId, svid: tok, hint: '' }] });
	},
	FetchJWTBundles: (call) => {
		if (!secured(call)) {
			call.destroy({ code: grpc.status.INVALID_ARGUMENT,
				details: 'security header missing from request' });
			return;
		}
		call.write({ bundles: { [td]: Buffer.from(bundle) } });
	},
});

try { fs.unlinkSync(sock); } catch { /* none yet */ }
server.bindAsync(`unix://${sock}`, grpc.ServerCredentials.createInsecure(), (err) => {
	if (err) {
		console.error(`bind ${sock}: ${err.message}`);
		process.exit(1);
	}
	console.log(`Workload API for ${spiffeId} on ${sock} (SVIDs live ${lifetime} s)`);
	write('ready', 'ok');
});

process.on('SIGUSR1', () => {
	issuing = false;
	console.log(`${new Date().toISOString()} issuing stopped`);
	write('stopped', `${now()}\n`);
});
process.on('SIGUSR2', () => {
	issuing = true;
	console.log(`${new Date().toISOString()} issuing again`);
});
const stop = () => {
	server.forceShutdown();
	process.exit(0);
};
process.on('SIGTERM', stop);
setTimeout(stop, Number(maxArg ?? 600) * 1000).unref();
