// A real OpenID Connect provider for the platform's identity tests: the certified `oidc-provider`
// package (package.json pins it), configured from a JSON file the test writes
// (SWP_TEST_OIDC_CONFIG). Nothing here checks a token: it only issues them, as a province IdP would.
//
// config: {
//   issuer, port, audience            the issuer URL, its port on 127.0.0.1, the API's resource indicator
//   jwks: {keys: [private JWKs]}      signing keys; the first of each alg signs (rotation = restart with a new first key)
//   clients: [client metadata]        as registered at the IdP (client_credentials and authorization_code clients)
//   client_claims: {client_id: {...}} claims a client_credentials token of that client carries (swp_role …)
//   client_alg: {client_id: "ES256"}  access-token signing alg per client (default RS256)
//   client_ttl: {client_id: seconds}  access-token lifetime per client (default 600)
//   accounts: {login: {...claims}}    the people who can sign in at the interaction page (any password)
//   claims_from_request: [client_id]  system clients whose token carries the JSON of the token request's
//                                     swp_claims parameter (a directory lookup, for the deploy tests' many roles)
// }
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.env.SWP_TEST_OIDC_CONFIG, 'utf8'));
const clientClaims = config.client_claims ?? {};
const clientAlg = config.client_alg ?? {};
const clientTtl = config.client_ttl ?? {};
const accounts = config.accounts ?? {};
const claimsFromRequest = new Set(config.claims_from_request ?? []);

const provider = new Provider(config.issuer, {
  clients: config.clients,
  extraParams: ['swp_claims'],
  jwks: config.jwks,
  cookies: { keys: ['swp-test-oidc-cookie-key'] },
  conformIdTokenClaims: false,
  claims: { openid: ['sub'], profile: ['name'] },
  scopes: ['openid', 'profile', 'api'],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true }, // the package's own login page: any login, any password
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => config.audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resourceIndicator, client) => {
        if (resourceIndicator !== config.audience) throw new Provider.errors.InvalidTarget();
        return {
          scope: 'api',
          audience: config.audience,
          accessTokenTTL: clientTtl[client.clientId] ?? 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: clientAlg[client.clientId] ?? 'RS256' } },
        };
      },
    },
  },
  async findAccount(ctx, id) {
    if (!accounts[id]) return undefined;
    return { accountId: id, async claims() { return { sub: id, name: accounts[id].name ?? id }; } };
  },
  async extraTokenClaims(ctx, token) {
    if (token.kind === 'ClientCredentials') {
      if (claimsFromRequest.has(token.clientId)) return JSON.parse(ctx.oidc.params?.swp_claims ?? ctx.oidc.body?.swp_claims ?? '{}');
      return clientClaims[token.clientId];
    }
    if (token.accountId && accounts[token.accountId]) {
      const { name, ...claims } = accounts[token.accountId];
      return claims;
    }
    return undefined;
  },
  // The console is a first-party client: no consent page, the grant covers what it asks for.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(ctx.oidc.requestParamScopes ? [...ctx.oidc.requestParamScopes].join(' ') : 'openid profile');
    grant.addResourceScope(config.audience, 'api');
    await grant.save();
    return grant;
  },
});

provider.listen(config.port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${config.issuer}`);
});
