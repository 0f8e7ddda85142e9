//! The token endpoints (v2 and v1) and the OpenID discovery document, with AADSTS errors.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{EntraEmulator, base_url, json_response, new_id};

/// Tokens live as long as Entra's usually do.
const TOKEN_LIFETIME_SECS: i64 = 3599;

/// Which token endpoint was called.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    V1,
    V2,
}

pub(super) async fn token_v2(
    State(emulator): State<EntraEmulator>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    issue(&emulator, &tenant, &form, Endpoint::V2)
}

pub(super) async fn token_v1(
    State(emulator): State<EntraEmulator>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    issue(&emulator, &tenant, &form, Endpoint::V1)
}

pub(super) async fn openid_configuration(
    State(emulator): State<EntraEmulator>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let state = emulator.lock();
    if !state.is_tenant(&tenant) {
        return aadsts(StatusCode::BAD_REQUEST, "invalid_tenant", 90002, &tenant_not_found(&tenant));
    }
    let base = base_url(&headers);
    let tid = &state.tenant_id;
    json_response(
        StatusCode::OK,
        json!({
            "token_endpoint": format!("{base}/{tid}/oauth2/v2.0/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": format!("{base}/{tid}/discovery/v2.0/keys"),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": format!("{base}/{tid}/v2.0"),
            "request_uri_parameter_supported": false,
            "authorization_endpoint": format!("{base}/{tid}/oauth2/v2.0/authorize"),
            "device_authorization_endpoint": format!("{base}/{tid}/oauth2/v2.0/devicecode"),
            "end_session_endpoint": format!("{base}/{tid}/oauth2/v2.0/logout"),
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
        }),
    )
}

fn tenant_not_found(tenant: &str) -> String {
    format!(
        "AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are \
         signing into the correct cloud."
    )
}

fn issue(
    emulator: &EntraEmulator,
    tenant: &str,
    form: &HashMap<String, String>,
    endpoint: Endpoint,
) -> Response {
    let state = emulator.lock();
    if !state.is_tenant(tenant) {
        return aadsts(StatusCode::BAD_REQUEST, "invalid_request", 90002, &tenant_not_found(tenant));
    }
    let field = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
    if field("grant_type") != Some("client_credentials") {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "AADSTS70003: The app requested an unsupported grant type; this emulator serves client_credentials.",
        );
    }
    // Which resource the token is for.
    let audience = match endpoint {
        Endpoint::V2 => {
            if field("resource").is_some() {
                return aadsts(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    901002,
                    "AADSTS901002: The 'resource' request parameter is not supported.",
                );
            }
            let Some(scope) = field("scope") else {
                return aadsts(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    900144,
                    "AADSTS900144: The request body must contain the following parameter: 'scope'.",
                );
            };
            match scope.strip_suffix("/.default") {
                Some(resource) if !resource.is_empty() => resource.to_owned(),
                _ => {
                    return aadsts(
                        StatusCode::BAD_REQUEST,
                        "invalid_scope",
                        1002012,
                        &format!(
                            "AADSTS1002012: The provided value for scope {scope} is not valid. Client credential \
                             flows must have a scope value with /.default suffixed to the resource identifier."
                        ),
                    );
                }
            }
        }
        Endpoint::V1 => match field("resource") {
            Some(resource) => resource.trim_end_matches('/').to_owned(),
            None => {
                return aadsts(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    900144,
                    "AADSTS900144: The request body must contain the following parameter: 'resource'.",
                );
            }
        },
    };
    let Some(client_id) = field("client_id") else {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "AADSTS900144: The request body must contain the following parameter: 'client_id'.",
        );
    };
    let Some(client) = state.client(client_id) else {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "AADSTS700016: Application with identifier '{client_id}' was not found in the directory '{}'. \
                 This can happen if the application has not been installed by the administrator of the tenant \
                 or consented to by any user in the tenant.",
                state.tenant_domain.as_deref().unwrap_or(&state.tenant_id)
            ),
        );
    };
    if field("client_assertion").is_some() {
        // Certificates are not emulated yet; answer as Entra does for a key it does not know.
        return aadsts(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700027,
            "AADSTS700027: The certificate with identifier used to sign the client assertion is not registered \
             on application. (This emulator accepts client secrets only.)",
        );
    }
    let Some(secret) = field("client_secret") else {
        return aadsts(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or \
             'client_secret'.",
        );
    };
    // Compare in constant time: the emulator should not teach a timing oracle.
    if !constant_time_eq(secret.as_bytes(), client.secret.as_bytes()) {
        return aadsts(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            &format!(
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the \
                 client secret value, not the client secret ID, for a secret added to app '{}'.",
                client.client_id
            ),
        );
    }
    if client.expired {
        return aadsts(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000222,
            &format!(
                "AADSTS7000222: The provided client secret keys for app '{}' are expired. Visit the Azure portal \
                 to create new keys for your app.",
                client.client_id
            ),
        );
    }
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "aud": audience,
        "iss": format!("https://sts.windows.net/{}/", state.tenant_id),
        "iat": now,
        "nbf": now,
        "exp": now + TOKEN_LIFETIME_SECS,
        "appid": client.client_id,
        "azp": client.client_id,
        "app_displayname": client.display_name,
        "idtyp": "app",
        "oid": client.client_id,
        "sub": client.client_id,
        "tid": state.tenant_id,
        "roles": client.roles,
        "ver": if endpoint == Endpoint::V2 { "2.0" } else { "1.0" },
        "uti": new_id(),
    });
    let token = sign(&state.signing_key, &claims);
    let body = match endpoint {
        Endpoint::V2 => json!({"token_type": "Bearer", "expires_in": TOKEN_LIFETIME_SECS,
                               "ext_expires_in": TOKEN_LIFETIME_SECS, "access_token": token}),
        // v1 answers numbers as text.
        Endpoint::V1 => json!({
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_SECS.to_string(),
            "ext_expires_in": TOKEN_LIFETIME_SECS.to_string(),
            "expires_on": (now + TOKEN_LIFETIME_SECS).to_string(),
            "not_before": now.to_string(),
            "resource": claims["aud"],
            "access_token": token,
        }),
    };
    json_response(StatusCode::OK, body)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An AADSTS error body as the token endpoint sends it.
fn aadsts(status: StatusCode, error: &str, code: u64, message: &str) -> Response {
    let trace_id = new_id();
    let correlation_id = new_id();
    let timestamp = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
    json_response(
        status,
        json!({
            "error": error,
            "error_description": format!(
                "{message}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}"
            ),
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    )
}

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8; 32]) -> HmacSha256 {
    // HMAC accepts keys of any length; a 32-byte key cannot fail.
    HmacSha256::new_from_slice(key).expect("HMAC takes any key length")
}

fn sign(key: &[u8; 32], claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"HS256"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let mut m = mac(key);
    m.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// The caller behind a Graph request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub client_id: String,
    pub roles: Vec<String>,
}

impl Caller {
    pub fn has_any(&self, roles: &[&str]) -> bool {
        self.roles.iter().any(|r| roles.contains(&r.as_str()))
    }
}

/// Why a bearer token was refused.
pub(crate) enum TokenProblem {
    Missing,
    Invalid,
    Expired,
}

/// Check a bearer token's signature and lifetime; return who called.
pub(crate) fn verify(key: &[u8; 32], authorization: Option<&str>) -> Result<Caller, TokenProblem> {
    let token = authorization
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(TokenProblem::Missing)?;
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenProblem::Invalid);
    };
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| TokenProblem::Invalid)?;
    let mut m = mac(key);
    m.update(format!("{header}.{payload}").as_bytes());
    m.verify_slice(&signature).map_err(|_| TokenProblem::Invalid)?;
    let claims: Value = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(TokenProblem::Invalid)?;
    let exp = claims.get("exp").and_then(Value::as_i64).ok_or(TokenProblem::Invalid)?;
    if exp <= chrono::Utc::now().timestamp() {
        return Err(TokenProblem::Expired);
    }
    let client_id = claims.get("appid").and_then(Value::as_str).ok_or(TokenProblem::Invalid)?.to_owned();
    let roles = claims
        .get("roles")
        .and_then(Value::as_array)
        .map(|roles| roles.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    Ok(Caller { client_id, roles })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_tokens_verify_and_tampering_is_caught() {
        let key = [7u8; 32];
        let exp = chrono::Utc::now().timestamp() + 60;
        let token = sign(&key, &json!({"appid": "c1", "roles": ["User.Read.All"], "exp": exp}));
        let caller = verify(&key, Some(&format!("Bearer {token}"))).ok().unwrap();
        assert_eq!(caller.client_id, "c1");
        assert!(caller.has_any(&["User.Read.All"]));

        let other_key = [8u8; 32];
        assert!(matches!(verify(&other_key, Some(&format!("Bearer {token}"))), Err(TokenProblem::Invalid)));
        assert!(matches!(verify(&key, None), Err(TokenProblem::Missing)));
        let old = sign(&key, &json!({"appid": "c1", "exp": 1}));
        assert!(matches!(verify(&key, Some(&format!("Bearer {old}"))), Err(TokenProblem::Expired)));
    }
}
