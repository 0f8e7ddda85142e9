"""The Azure SDK for Python against the Entra ID / Graph emulator over HTTPS.

azure-identity's ClientSecretCredential (MSAL underneath) signs in at the emulator's authority with
the emulator's CA as its bundle; msgraph-sdk (Kiota over httpx) lists the users page by page and
reads a group's members. Both must match directory.json. Exit 0 when so, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx
from azure.identity import ClientSecretCredential
from azure.identity.aio import ClientSecretCredential as AsyncClientSecretCredential
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.users.users_request_builder import UsersRequestBuilder

from emulator import Emulator

HERE = Path(__file__).resolve().parent
DIRECTORY = HERE / "directory.json"
SCOPE = "https://graph.microsoft.com/.default"

failures: list[str] = []
passes: list[str] = []


def check(ok: bool, what: str) -> None:
    (passes if ok else failures).append(what)
    print(f"  {'ok  ' if ok else 'FAIL'} {what}")


async def graph_checks(env: dict[str, str], ca_file: str, directory: dict) -> None:
    credential = AsyncClientSecretCredential(
        env["AZURE_TENANT_ID"],
        env["AZURE_CLIENT_ID"],
        env["AZURE_CLIENT_SECRET"],
        authority=env["AZURE_AUTHORITY_HOST"],
        disable_instance_discovery=True,
        connection_verify=ca_file,
    )
    host = env["SCIMSYNC_GRAPH_URL"].split("://", 1)[1].split(":")[0]
    auth = AzureIdentityAuthenticationProvider(credential, scopes=[SCOPE], allowed_hosts=[host])
    http = httpx.AsyncClient(verify=ca_file, timeout=30)
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = env["SCIMSYNC_GRAPH_URL"] + "/v1.0"
    graph = GraphServiceClient(request_adapter=adapter)

    # Users, three per page, following @odata.nextLink.
    config = UsersRequestBuilder.UsersRequestBuilderGetRequestConfiguration(
        query_parameters=UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            top=3, select=["id", "userPrincipalName", "displayName", "accountEnabled"]
        )
    )
    page = await graph.users.get(request_configuration=config)
    pages, seen = 1, list(page.value or [])
    while page.odata_next_link:
        page = await graph.users.with_url(page.odata_next_link).get()
        pages += 1
        seen.extend(page.value or [])
    want = {u["id"]: u for u in directory["users"]}
    got = {u.id: u for u in seen}
    check(pages == -(-len(want) // 3), f"msgraph-sdk: users in {pages} pages of $top=3 (want {-(-len(want) // 3)})")
    check(set(got) == set(want), f"msgraph-sdk: {len(got)} users, the directory file's {len(want)}")
    check(
        all(got[i].user_principal_name == want[i]["userPrincipalName"] and got[i].display_name == want[i]["displayName"]
            for i in set(got) & set(want)),
        "msgraph-sdk: userPrincipalName and displayName as in the file",
    )
    check(all(got[i].account_enabled is True for i in got), "msgraph-sdk: accountEnabled read with $select")

    # A group's direct members, users and a nested group, typed.
    group = directory["groups"][0]
    members = await graph.groups.by_group_id(group["id"]).members.get()
    got_members = {m.id: type(m).__name__ for m in members.value or []}
    check(set(got_members) == set(group["members"]), f"msgraph-sdk: members of {group['displayName']} as in the file")
    nested = directory["groups"][1]["id"]
    check(got_members.get(nested) == "Group" and all(v == "User" for k, v in got_members.items() if k != nested),
          f"msgraph-sdk: member types from @odata.type ({sorted(got_members.values())})")
    one = await graph.users.by_user_id(directory["users"][0]["userPrincipalName"]).get()
    check(one is not None and one.id == directory["users"][0]["id"], "msgraph-sdk: a user by UPN")
    await credential.close()
    await http.aclose()


def main() -> int:
    directory = json.loads(DIRECTORY.read_text())
    with Emulator(tls=True, directory=DIRECTORY) as emu:
        env = emu.env
        ca_file = env["SCIMSYNC_CA_FILE"]
        check(env["AZURE_AUTHORITY_HOST"].startswith("https://"), "emulate --tls prints an https authority")
        credential = ClientSecretCredential(
            env["AZURE_TENANT_ID"],
            env["AZURE_CLIENT_ID"],
            env["AZURE_CLIENT_SECRET"],
            authority=env["AZURE_AUTHORITY_HOST"],
            disable_instance_discovery=True,
            connection_verify=ca_file,
        )
        token = credential.get_token(SCOPE)
        claims = json.loads(_b64(token.token.split(".")[1]))
        check(bool(token.token) and token.expires_on > 0, "azure-identity: ClientSecretCredential got a token")
        check(claims.get("appid") == env["AZURE_CLIENT_ID"] and claims.get("tid") == env["AZURE_TENANT_ID"],
              "azure-identity: the token names the client and the tenant")
        check("User.Read.All" in claims.get("roles", []), "azure-identity: the token carries the client's roles")
        bad = ClientSecretCredential(
            env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], "wrong-secret",
            authority=env["AZURE_AUTHORITY_HOST"], disable_instance_discovery=True, connection_verify=ca_file,
        )
        try:
            bad.get_token(SCOPE)
            check(False, "azure-identity: a wrong secret is refused")
        except Exception as e:  # ClientAuthenticationError
            check("AADSTS7000215" in str(e), "azure-identity: a wrong secret is refused with AADSTS7000215")
        asyncio.run(graph_checks(env, ca_file, directory))
    print(f"azure-identity and msgraph-sdk against the Entra emulator: {len(passes)} passed, {len(failures)} failed")
    return 1 if failures else 0


def _b64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


if __name__ == "__main__":
    sys.exit(main())
