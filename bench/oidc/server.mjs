// SPDX-License-Identifier: ISC
// bench/oidc/server.mjs: the peer of bench/run.sh oauth (bench/oauth.py): oidc-provider
// (npm, pinned in bench/oidc/package.json) configured as its documentation says for this
// load: refresh tokens with rotation on, introspection and revocation enabled, the
// default in-memory adapter, one confidential client (client_secret_basic), ES256 JWT
// access tokens for the resource indicator "urn:telgate:sip". Behind Node's https server
// (keep-alive on, TLS as telgated's listener), one process (the in-memory adapter cannot be
// shared between processes).
//   node server.mjs PORT KEY.pem CERT.pem OUTFILE N
// Seeds, before it listens, N refresh tokens (each its own grant, as N logins would make)
// and one opaque access token through the provider's own models, and writes to OUTFILE
// JSON {"client_id","client_secret","refresh_tokens":[...],"access_token"}.
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import Provider from 'oidc-provider';
import { setStorage } from 'oidc-provider/lib/adapters/memory_adapter.js';

// The in-memory adapter keeps 1,000 entries (an LRU) by default: under this load the
// introspected token would be evicted after a second and the adapter would stand for no
// real store. A Map keeps every entry, as a database would.
setStorage(new Map());

const [port, keyFile, certFile, outFile, nStr] = process.argv.slice(2);
const n = Number(nStr);
const issuer = `https://127.0.0.1:${port}`;
const resource = 'urn:telgate:sip';
const clientId = 'bench';
const clientSecret = crypto.randomBytes(32).toString('base64url');
const signing = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
  .export({ format: 'jwk' });

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    grant_types: ['authorization_code', 'refresh_token'],
    redirect_uris: ['https://app.example/cb'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  }],
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  jwks: { keys: [{ ...signing, alg: 'ES256', use: 'sig', kid: 'bench' }] },
  rotateRefreshToken: true,
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  ttl: { AccessToken: 3600, RefreshToken: 60 * 86400, Grant: 60 * 86400 },
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => resource,
      useGrantedResource: async () => true,
      getResourceServerInfo: async () => ({
        scope: 'sip',
        audience: 'sip',
        accessTokenTTL: 3600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
});
// no log line per request (telgated logs one http_access line at level info, to a file)
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const client = await provider.Client.find(clientId);
const refreshTokens = [];
for (let i = 0; i < n; i++) {
  const grant = new provider.Grant({ accountId: `user${i}`, clientId });
  grant.addResourceScope(resource, 'sip');
  const grantId = await grant.save();
  const rt = new provider.RefreshToken({
    accountId: `user${i}`, client, grantId, scope: 'sip', resource, gty: 'authorization_code',
  });
  refreshTokens.push(await rt.save());
}
// the introspected token: opaque (oidc-provider introspects only its opaque tokens; a JWT
// access token for a resource server is verified by that server)
const grant = new provider.Grant({ accountId: 'introspected', clientId });
grant.addOIDCScope('openid');
const grantId = await grant.save();
const at = new provider.AccessToken({ accountId: 'introspected', client, grantId, scope: 'openid' });
const accessToken = await at.save();
fs.writeFileSync(outFile, JSON.stringify({
  client_id: clientId, client_secret: clientSecret, refresh_tokens: refreshTokens,
  access_token: accessToken, token_path: '/token', introspect_path: '/token/introspection',
}));

const server = https.createServer({
  key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile), keepAliveTimeout: 60000,
}, provider.callback());
server.keepAliveTimeout = 60000;
server.listen(Number(port), '127.0.0.1', () => console.log('listening'));
