// The peer of Tessera's OIDC benchmark (bench/run.sh oidc): oidc-provider, pinned in package.json,
// configured like Tessera's benchmark tenant. See bench/README.md ("oidc") for what each scenario does.
//
//   node server.js [PORT]        (or PORT in the environment; listens on 127.0.0.1 only)
//
// Prints "listening on http://127.0.0.1:PORT" once it accepts connections. Everything is kept in
// oidc-provider's built-in in-memory adapter (no database): say so whenever its figures are compared.
//
// The client's secret comes from BENCH_CLIENT_SECRET (a fixed default otherwise): the driver needs it.
import crypto from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const port = Number(process.argv[2] || process.env.PORT || 0);
const host = '127.0.0.1';
const secret = process.env.BENCH_CLIENT_SECRET || 'bench-peer-client-secret-0123456789abcdef';
/** The API the client_credentials tokens are for (a resource indicator, RFC 8707). */
const API = 'urn:tessera-bench:api';
/** The customer the minimal interaction signs in, whoever asks. */
const ACCOUNT = 'customer-1';

// One ES256 signing key, made at start like a fresh Tessera tenant's key ring.
const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomBytes(16).toString('base64url'), alg: 'ES256', use: 'sig' };

const configuration = {
  clients: [
    {
      client_id: 'bench',
      client_secret: secret,
      client_name: 'Bench',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1:9/cb'],
      scope: 'openid profile email api:read',
      id_token_signed_response_alg: 'ES256',
    },
  ],
  jwks: { keys: [jwk] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  scopes: ['openid', 'profile', 'email', 'api:read'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name'],
    email: ['email', 'email_verified'],
  },
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          name: 'Bench Customer',
          given_name: 'Bench',
          family_name: 'Customer',
          email: `${sub}@example.com`,
          email_verified: true,
        };
      },
    };
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    // client_credentials tokens are JWTs signed with ES256 (RFC 9068) for the API; the code flow's
    // access token (no resource asked for) is the userinfo token, which oidc-provider always keeps
    // opaque (a JWT for a resource server is refused at userinfo).
    resourceIndicators: {
      enabled: true,
      defaultResource(ctx) {
        return ctx.oidc.params?.grant_type === 'client_credentials' ? API : undefined;
      },
      useGrantedResource: () => true,
      getResourceServerInfo(_ctx, resource) {
        if (resource !== API) throw new Provider.errors.InvalidTarget();
        return {
          scope: 'api:read',
          audience: API,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
  // S256 only is all oidc-provider 9 knows; required for every client, as Tessera does by default.
  pkce: { required: () => true },
  // A refresh token with every code, as the client is allowed the grant (no offline_access needed).
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  // First-party client: no consent screen. The grant is made once and remembered in the session.
  async loadExistingGrant(ctx) {
    const known = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (known) return ctx.oidc.provider.Grant.find(known);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid profile email');
    await grant.save();
    return grant;
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: {
    // Tessera's defaults for a new client: access and ID tokens live 10 minutes.
    AccessToken: 600,
    AuthorizationCode: 60,
    ClientCredentials: 600,
    IdToken: 600,
    RefreshToken: 30 * 24 * 3600,
    Grant: 30 * 24 * 3600,
    Session: 24 * 3600,
    Interaction: 600,
  },
  renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
};

const provider = new Provider(`http://${host}:${port}`, configuration);
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

const callback = provider.callback();
const server = http.createServer(async (req, res) => {
  // The minimal interaction: whoever arrives is signed in as ACCOUNT at once (the customer signs in
  // once before the measured window; every later authorize finds the session and never comes here).
  if (req.method === 'GET' && req.url.startsWith('/interaction/')) {
    try {
      await provider.interactionFinished(
        req,
        res,
        { login: { accountId: ACCOUNT, amr: ['pwd'], acr: 'urn:tessera-bench:pwd' } },
        { mergeWithLastSubmission: false },
      );
    } catch (err) {
      res.statusCode = 400;
      res.setHeader('content-type', 'text/plain');
      res.end(String(err));
    }
    return;
  }
  callback(req, res);
});
server.listen(port, host, () => {
  console.log(`listening on http://${host}:${server.address().port}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
