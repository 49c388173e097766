// A certified OpenID Connect provider (panva/oidc-provider) standing in for Keycloak in the tests:
// one realm-like issuer path, one confidential client, accounts with Keycloak-shaped claims.
// Usage: node provider.mjs CONFIG.json  (written by tests/services.py OidcProvider).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const realm = `/realms/${config.realm}`; // Keycloak's issuer is the realm URL
const accounts = config.accounts; // name -> { password, claims }
const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// Keycloak's "Do you want to log out?" page, with nothing loaded from outside.
async function logoutSource(ctx, form) {
  ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Logging out</title></head>
<body><h1 id="kc-page-title">Do you want to log out?</h1>${form}
<button id="kc-logout" type="submit" form="op.logoutForm" name="logout" value="yes">Logout</button></body></html>`;
}

const provider = new Provider(`http://127.0.0.1:${config.port}${realm}`, {
  clients: [{
    ...config.client,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post', // what Panel's OAuth handler sends
  }],
  // Keycloak's default client scopes: `roles` (realm_access) comes without being asked for.
  claims: {
    openid: ['sub', 'realm_access', 'resource_access'],
    profile: ['preferred_username', 'name', 'given_name', 'family_name'],
    email: ['email', 'email_verified'],
  },
  conformIdTokenClaims: false, // as Keycloak: the claims are in the id_token of the code flow too
  findAccount: (ctx, id) => (Object.hasOwn(accounts, id) ? {
    accountId: id,
    claims: () => ({ sub: id, preferred_username: id, ...accounts[id].claims }),
  } : undefined),
  // Keycloak's "Consent required: off": the observatory is a first-party client, no consent page.
  loadExistingGrant: async (ctx) => {
    const { client, session } = ctx.oidc;
    const found = session.grantIdFor(client.clientId);
    if (found) return ctx.oidc.provider.Grant.find(found);
    const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
    grant.addOIDCScope('openid profile email offline_access');
    await grant.save();
    return grant;
  },
  pkce: { required: () => false }, // Keycloak's default; Panel's generic OAuth sends no code_challenge
  interactions: { url: (ctx, interaction) => `${realm}/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false }, // its pages load web fonts from outside
    rpInitiatedLogout: { enabled: true, logoutSource }, // the site's sign-out ends the session here
  },
  cookies: { keys: [config.cookie_key] },
});

// The sign-in page: a form, a fixed password per account, nothing loaded from outside.
async function interaction(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'POST') {
    let body = '';
    for await (const chunk of req) body += chunk;
    const form = new URLSearchParams(body);
    const name = form.get('username');
    if (Object.hasOwn(accounts, name) && accounts[name].password === form.get('password')) {
      await provider.interactionFinished(req, res, { login: { accountId: name } }, { mergeWithLastSubmission: false });
      return;
    }
    res.statusCode = 401;
  }
  const failed = req.method === 'POST' ? '<p class="kc-error">Invalid username or password.</p>' : '';
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.end(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>Sign in to ${escape(config.realm)}</title></head>
<body><h1 id="kc-header">${escape(config.realm)}</h1>${failed}
<form id="kc-form-login" method="post" action="${realm}/interaction/${escape(uid)}">
<input id="username" name="username" value="${escape(details.params.login_hint ?? '')}" autofocus>
<input id="password" name="password" type="password">
<button id="kc-login" type="submit">Sign In</button></form></body></html>`);
}

const handle = provider.callback();
createServer((req, res) => {
  const url = new URL(req.url, provider.issuer);
  if (!url.pathname.startsWith(`${realm}/`)) {
    res.statusCode = 404;
    res.end();
    return;
  }
  const page = url.pathname.slice(realm.length).match(/^\/interaction\/([\w-]+)$/);
  if (page) {
    interaction(req, res, page[1]).catch((error) => { res.statusCode = 400; res.end(String(error)); });
    return;
  }
  req.originalUrl = req.url; // mounted under the realm path, as Keycloak's issuer
  req.url = req.url.slice(realm.length);
  handle(req, res);
}).listen(config.port, '127.0.0.1', () => console.log(`issuer ${provider.issuer} ready`));
