// An OpenID provider nobody here wrote (panva/node-oidc-provider), on loopback, for the OAuth
// tests: the client-credentials grant with JWT access tokens whose audience is the requested
// resource (RFC 8707). Prints {"issuer": "..."} on stdout once it listens.
//
// usage: node provider.mjs CLIENTS_JSON
//   CLIENTS_JSON: [{"client_id", "client_secret", "email", "ttl"}] — `email` becomes the token's
//   email claim (the mailbox authrelay maps it to), `ttl` its lifetime in seconds; an optional
//   `email_verified` is passed on as that claim. A client with `cert_files` (PEM certificates)
//   and no secret authenticates with private_key_jwt (RFC 7523), its keys those certificates'.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const clients = JSON.parse(process.argv[2] || '[]');
const byId = Object.fromEntries(clients.map((c) => [c.client_id, c]));
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key-1', use: 'sig', alg: 'RS256' };

const server = (await import('node:http')).createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: clients.map((c) => (c.cert_files ? {
    client_id: c.client_id,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'RS256',
    jwks: { keys: c.cert_files.map((f) => ({ ...createPublicKey(readFileSync(f)).export({ format: 'jwk' }), use: 'sig' })) },
  } : {
    client_id: c.client_id,
    client_secret: c.client_secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_post',
  })),
  jwks: { keys: [jwk] },
  scopes: ['smtp.send'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource, client) => ({
        scope: 'smtp.send',
        audience: resource,
        accessTokenFormat: 'jwt',
        accessTokenTTL: byId[client.clientId]?.ttl ?? 300,
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  extraTokenClaims: (ctx, token) => {
    const c = byId[token.clientId];
    if (!c?.email) return undefined;
    return c.email_verified === undefined ? { email: c.email } : { email: c.email, email_verified: c.email_verified };
  },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));
// With TOKEN_LOG set, one line per token request, so a test can count them.
if (process.env.TOKEN_LOG) {
  const { appendFileSync } = await import('node:fs');
  server.on('request', (req) => {
    if (req.method === 'POST' && req.url.startsWith('/token')) appendFileSync(process.env.TOKEN_LOG, 'token\n');
  });
}
server.on('request', provider.callback());
console.log(JSON.stringify({ issuer }));
