"""The unchanged `openstack` CLI and openstacksdk against `labs up`."""

from __future__ import annotations

import os
import subprocess

import httpx
import pytest

from tests.e2e.conftest import RunningCloud, start_labs_up

pytestmark = pytest.mark.e2e


def as_user(cloud: RunningCloud, user: str, password: str, project: str, *args: str,
            check: bool = True) -> object:
    return cloud.openstack("--os-username", user, "--os-password", password,
                           "--os-project-name", project, *args, check=check)


def test_ready_line_and_healthz(labs_cloud: RunningCloud) -> None:
    assert labs_cloud.url in labs_cloud.ready_line
    assert "clouds.yaml" in labs_cloud.ready_line
    assert httpx.get(f"{labs_cloud.url}/healthz", timeout=5).status_code == 200
    assert labs_cloud.clouds_yaml.stat().st_mode & 0o077 == 0


def test_ready_line_gives_a_working_openstack_command(labs_cloud: RunningCloud) -> None:
    """A new user pastes the ready line's `export` into a shell with a bare PATH and has
    a working `openstack` command."""
    export = labs_cloud.ready_line.split("clients: ", 1)[1]
    script = f"{export}\nopenstack token issue -f value -c project_id"
    done = subprocess.run(["bash", "-c", script], env={"PATH": "/usr/bin:/bin",
                          "HOME": os.environ.get("HOME", "/root")},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip()) == 32


def test_token_issue_and_catalog(labs_cloud: RunningCloud) -> None:
    token = labs_cloud.openstack_json("token", "issue")
    assert token["id"] and token["project_id"] and token["user_id"]
    catalog = labs_cloud.openstack_json("catalog", "list")
    assert sorted(c["Type"] for c in catalog) == ["accounts", "compute", "dns", "identity",
                                                  "image", "network"]
    demo = labs_cloud.openstack_json("token", "issue", cloud="labs-demo")
    assert demo["project_id"] != token["project_id"]


def directory_line(cloud: RunningCloud) -> str:
    """What `labs up` logged of where the accounts live."""
    log = sorted(cloud.data_dir.parent.glob("labs-up-*.log"))[-1]
    return next(line for line in log.read_text().splitlines() if "directory:" in line)


def test_projects_users_roles_groups(labs_cloud: RunningCloud) -> None:
    """With slapd installed, `labs up` keeps users, passwords and groups in its private
    directory: the CLI's users, password change and login, groups and roles there."""
    assert "the private slapd answers on" in directory_line(labs_cloud)
    users_roles_groups(labs_cloud)


def test_projects_users_roles_groups_with_the_users_in_sql(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """The same with `[directory] backend = sql`: the two backends answer alike."""
    cloud = start_labs_up(tmp_path_factory.mktemp("labs-sql-users") / "data",
                          env={"LABS_DIRECTORY_BACKEND": "sql"})
    try:
        assert "the accounts are kept in SQL ([directory] backend = sql)" \
            in directory_line(cloud)
        users_roles_groups(cloud)
    finally:
        cloud.stop()


def users_roles_groups(c: RunningCloud) -> None:
    project = c.openstack_json("project", "create", "--description", "e2e", "proj-e2e")
    assert project["name"] == "proj-e2e"
    assert "proj-e2e" in [p["Name"] for p in c.openstack_json("project", "list")]
    c.openstack("project", "set", "--description", "changed", "proj-e2e")
    assert c.openstack_json("project", "show", "proj-e2e")["description"] == "changed"

    c.openstack("user", "create", "--password", "first-pw", "--project", "proj-e2e", "alice")
    c.openstack("user", "set", "--password", "second-pw", "alice")
    c.openstack("role", "add", "--user", "alice", "--project", "proj-e2e", "member")
    rows = c.openstack_json("role", "assignment", "list", "--names", "--project", "proj-e2e")
    assert [(r["Role"], r["User"], r["Project"]) for r in rows] == [
        ("member", "alice@Default", "proj-e2e@Default")]

    # alice logs in with the new password, not the old one
    assert as_user(c, "alice", "second-pw", "proj-e2e", "token", "issue").returncode == 0
    old = as_user(c, "alice", "first-pw", "proj-e2e", "token", "issue", check=False)
    assert old.returncode != 0 and "401" in old.stderr

    # without the role alice cannot scope to the project; a group role gives it back
    c.openstack("role", "remove", "--user", "alice", "--project", "proj-e2e", "member")
    assert as_user(c, "alice", "second-pw", "proj-e2e", "token", "issue",
                   check=False).returncode != 0
    c.openstack("group", "create", "proj-e2e-devs")
    c.openstack("group", "add", "user", "proj-e2e-devs", "alice")
    c.openstack("role", "add", "--group", "proj-e2e-devs", "--project", "proj-e2e", "member")
    assert as_user(c, "alice", "second-pw", "proj-e2e", "token", "issue").returncode == 0
    effective = c.openstack_json("role", "assignment", "list", "--names", "--effective",
                                 "--user", "alice")
    # member, and reader as member implies it
    assert sorted((r["Role"], r["Project"]) for r in effective) == [
        ("member", "proj-e2e@Default"), ("reader", "proj-e2e@Default")]

    c.openstack("group", "delete", "proj-e2e-devs")
    c.openstack("user", "delete", "alice")
    c.openstack("project", "delete", "proj-e2e")
    assert "proj-e2e" not in [p["Name"] for p in c.openstack_json("project", "list")]


def test_project_names_as_keystone_takes_them(labs_cloud: RunningCloud) -> None:
    """What tempest's dynamic credentials do first: projects and users with capitals,
    dots and spaces; each project shows the DNS label Labs made of its name."""
    c = labs_cloud
    made = c.openstack_json("project", "create", "Tempest-Proj.1")
    assert (made["name"], made["label"]) == ("Tempest-Proj.1", "tempest-proj-1")
    tempest = c.openstack_json("project", "create", "tempest-ImagesTagsTest-1507726952")
    assert tempest["label"] == "tempest-imagestagstest-1507726952"
    c.openstack("user", "create", "--password", "pw-1", "Tempest Alice.1")
    c.openstack("role", "add", "--user", "Tempest Alice.1", "--project", "Tempest-Proj.1",
                "member")
    token = c.openstack("--os-username", "Tempest Alice.1", "--os-password", "pw-1",
                        "--os-project-name", "Tempest-Proj.1", "token", "issue",
                        "-f", "value", "-c", "project_id")
    assert token.stdout.strip() == made["id"]
    c.openstack("project", "set", "--name", "Tempest Proj Renamed", "Tempest-Proj.1")
    shown = c.openstack_json("project", "show", made["id"])
    assert (shown["name"], shown["label"]) == ("Tempest Proj Renamed", "tempest-proj-1")
    refused = c.openstack("project", "create", "x" * 65, check=False)
    assert refused.returncode != 0 and "400" in refused.stderr


def test_application_credential_then_a_token_with_it(labs_cloud: RunningCloud) -> None:
    c = labs_cloud
    cred = c.openstack_json("application", "credential", "create", "--description", "ci",
                            "e2e-cred", cloud="labs-demo")
    assert cred["Secret"]
    result = c.openstack("--os-auth-type", "v3applicationcredential",
                         "--os-auth-url", f"{c.url}/identity/v3",
                         "--os-application-credential-id", cred["ID"],
                         # "=": a secret may start with "-"
                         f"--os-application-credential-secret={cred['Secret']}",
                         "token", "issue", "-f", "json", cloud=None)
    assert '"project_id"' in result.stdout
    c.openstack("application", "credential", "delete", "e2e-cred", cloud="labs-demo")
    gone = c.openstack("--os-auth-type", "v3applicationcredential",
                       "--os-auth-url", f"{c.url}/identity/v3",
                       "--os-application-credential-id", cred["ID"],
                       f"--os-application-credential-secret={cred['Secret']}",
                       "token", "issue", cloud=None, check=False)
    assert gone.returncode != 0 and "401" in gone.stderr, gone.stderr


def test_token_revoke_then_401(labs_cloud: RunningCloud) -> None:
    c = labs_cloud
    token = c.openstack_json("token", "issue", cloud="labs-demo")["id"]
    url = f"{c.url}/identity/v3/auth/projects"
    assert httpx.get(url, headers={"X-Auth-Token": token}, timeout=10).status_code == 200
    c.openstack("token", "revoke", token)
    resp = httpx.get(url, headers={"X-Auth-Token": token}, timeout=10)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == 401
    reuse = c.openstack("--os-auth-type", "v3token", "--os-auth-url", f"{c.url}/identity/v3",
                        "--os-token", token, "--os-project-name", "demo",
                        "--os-project-domain-name", "Default", "project", "list",
                        cloud=None, check=False)
    assert reuse.returncode != 0 and "401" in reuse.stderr


def test_openstacksdk_identity(labs_cloud: RunningCloud) -> None:
    from openstack import connection
    from openstack.config import OpenStackConfig

    config = OpenStackConfig(config_files=[str(labs_cloud.clouds_yaml)], load_envvars=False)
    conn = connection.Connection(config=config.get_one("labs"))
    try:
        names = {p.name for p in conn.identity.projects()}
        assert {"admin", "demo"} <= names
        project = conn.identity.create_project(name="sdk-e2e", domain_id="default")
        assert conn.identity.get_project(project.id).name == "sdk-e2e"
        conn.identity.delete_project(project)
        assert "sdk-e2e" not in {p.name for p in conn.identity.projects()}
    finally:
        conn.close()


def test_second_start_reuses_the_data(tmp_path_factory: pytest.TempPathFactory) -> None:
    data_dir = tmp_path_factory.mktemp("labs-restart") / "data"
    first = start_labs_up(data_dir)
    try:
        first.openstack("project", "create", "kept")
        before = first.clouds_yaml.read_text()
    finally:
        first.stop()
    second = start_labs_up(data_dir)
    try:
        assert "kept" in [p["Name"] for p in second.openstack_json("project", "list")]
        # same admin password, new URL
        assert before.split("password:")[1].split()[0] in second.clouds_yaml.read_text()
        assert second.url in second.clouds_yaml.read_text()
    finally:
        second.stop()


def test_the_labs_vm_image_is_registered_on_first_start(labs_cloud: RunningCloud) -> None:
    images = labs_cloud.openstack_json("image", "list", "--public", "--long")
    [labs] = [i for i in images if i["Name"] == "labs"]
    assert labs["Status"] == "active" and labs["Disk Format"] == "qcow2"
    shown = labs_cloud.openstack_json("image", "show", "labs", cloud="labs-demo")
    assert shown["visibility"] == "public"
    assert shown["properties"]["labs_ready_marker"] == "LABS-READY"


def test_ec2_credentials_and_an_ec2_token(labs_cloud: RunningCloud) -> None:
    from tests.identity.protection_delegation import signed_request

    c = labs_cloud
    demo = c.openstack_json("token", "issue", cloud="labs-demo")
    cred = c.openstack_json("ec2", "credentials", "create", cloud="labs-demo")
    access, secret = cred["access"], cred["secret"]
    assert (cred["project_id"], cred["user_id"]) == (demo["project_id"], demo["user_id"])
    listed = c.openstack_json("ec2", "credentials", "list", cloud="labs-demo")
    assert [(r["Access"], r["Secret"]) for r in listed] == [(access, secret)]
    assert c.openstack_json("ec2", "credentials", "show", access,
                            cloud="labs-demo")["secret"] == secret
    url = f"{c.url}/identity/v3/ec2tokens"
    resp = httpx.post(url, json={"credentials": signed_request(access, secret)}, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json()["token"]["project"]["name"] == "demo"
    c.openstack("ec2", "credentials", "delete", access, cloud="labs-demo")
    assert c.openstack_json("ec2", "credentials", "list", cloud="labs-demo") == []
    resp = httpx.post(url, json={"credentials": signed_request(access, secret)}, timeout=10)
    assert resp.status_code == 401


def test_credentials(labs_cloud: RunningCloud) -> None:
    c = labs_cloud
    demo = c.openstack_json("token", "issue", cloud="labs-demo")["user_id"]
    cred = c.openstack_json("credential", "create", "--type", "totp", demo, "GEZDGNBVGY3TQOJQ",
                            cloud="labs-demo")
    assert (cred["type"], cred["blob"], cred["user_id"]) == ("totp", "GEZDGNBVGY3TQOJQ", demo)
    rows = c.openstack_json("credential", "list", "--user", "demo", "--type", "totp")
    assert [r["ID"] for r in rows] == [cred["id"]]
    c.openstack("credential", "set", "--user", demo, "--type", "totp", "--data", "changed",
                cred["id"], cloud="labs-demo")
    assert c.openstack_json("credential", "show", cred["id"],
                            cloud="labs-demo")["blob"] == "changed"
    c.openstack("credential", "delete", cred["id"], cloud="labs-demo")
    assert c.openstack_json("credential", "list", cloud="labs-demo") == []


def test_trust_then_a_trust_scoped_token(labs_cloud: RunningCloud) -> None:
    c = labs_cloud
    demo = c.openstack_json("token", "issue", cloud="labs-demo")
    trustee = c.openstack_json("user", "create", "--password", "trustee-pw", "trustee-e2e")
    trust = c.openstack_json("trust", "create", "--project", demo["project_id"], "--role",
                             "member", demo["user_id"], trustee["id"], cloud="labs-demo")
    assert (trust["trustor_user_id"], trust["trustee_user_id"], trust["project_id"]) == (
        demo["user_id"], trustee["id"], demo["project_id"])
    assert "member" in str(trust["roles"])
    mine = c.openstack_json("trust", "list", "--auth-user", cloud="labs-demo")
    assert [t["ID"] for t in mine] == [trust["id"]]
    assert trust["id"] in [t["ID"] for t in c.openstack_json("trust", "list")]
    assert c.openstack_json("trust", "show", trust["id"], cloud="labs-demo")["id"] == trust["id"]

    def as_trustee(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return c.openstack("--os-auth-type", "password", "--os-auth-url",
                           f"{c.url}/identity/v3", "--os-username", "trustee-e2e",
                           "--os-password", "trustee-pw", "--os-user-domain-name", "Default",
                           "--os-trust-id", trust["id"], *args, cloud=None, check=check)

    result = as_trustee("token", "issue", "-f", "json")
    assert f'"project_id": "{demo["project_id"]}"' in result.stdout
    c.openstack("trust", "delete", trust["id"], cloud="labs-demo")
    gone = as_trustee("token", "issue", check=False)
    assert gone.returncode != 0 and "404" in gone.stderr, gone.stderr
    c.openstack("user", "delete", "trustee-e2e")


def test_implied_roles_limits_and_system_roles(labs_cloud: RunningCloud) -> None:
    c = labs_cloud
    ops = c.openstack_json("role", "create", "e2e-ops")["id"]
    reader = c.openstack_json("role", "show", "reader")["id"]
    rule = c.openstack_json("implied", "role", "create", "--implied-role", "reader", "e2e-ops")
    assert (rule["prior_role"], rule["implies"]) == (ops, reader)
    rules = {(r["Prior Role Name"], r["Implied Role Name"])
             for r in c.openstack_json("implied", "role", "list")}
    assert {("admin", "member"), ("member", "reader"), ("e2e-ops", "reader")} <= rules
    c.openstack("implied", "role", "delete", "--implied-role", "reader", "e2e-ops")
    assert ("e2e-ops", "reader") not in {(r["Prior Role Name"], r["Implied Role Name"]) for r
                                         in c.openstack_json("implied", "role", "list")}
    c.openstack("role", "delete", "e2e-ops")

    registered = c.openstack_json("registered", "limit", "create", "--service", "compute",
                                  "--default-limit", "10", "--region", "RegionOne",
                                  "e2e-cores")
    assert registered["default_limit"] == 10
    listed = c.openstack_json("registered", "limit", "list", "--service", "compute")
    assert [r["Resource Name"] for r in listed] == ["e2e-cores"]
    limit = c.openstack_json("limit", "create", "--service", "compute", "--project", "demo",
                             "--resource-limit", "4", "--region", "RegionOne", "e2e-cores")
    assert limit["resource_limit"] == 4
    # demo's members see demo's limit
    seen = c.openstack_json("limit", "list", cloud="labs-demo")
    assert [(r["Resource Name"], r["Resource Limit"]) for r in seen] == [("e2e-cores", 4)]
    c.openstack("limit", "delete", limit["id"])
    c.openstack("registered", "limit", "delete", registered["id"])

    c.openstack("user", "create", "--password", "sys-pw", "e2e-sys")
    c.openstack("role", "add", "--system", "all", "--user", "e2e-sys", "admin")
    system = c.openstack_json("role", "assignment", "list", "--system", "all", "--names")
    assert ("admin", "e2e-sys@Default", "all") in {(r["Role"], r["User"], r["System"])
                                                   for r in system}
    as_system = ("--os-auth-url", f"{c.url}/identity/v3", "--os-username", "e2e-sys",
                 "--os-password", "sys-pw", "--os-user-domain-name", "Default",
                 "--os-system-scope", "all")
    assert c.openstack(*as_system, "token", "issue", cloud=None).returncode == 0
    assert "demo" in c.openstack(*as_system, "project", "list", cloud=None).stdout
    c.openstack("role", "remove", "--system", "all", "--user", "e2e-sys", "admin")
    c.openstack("user", "delete", "e2e-sys")


def test_access_rules_hold_at_compute(labs_cloud: RunningCloud) -> None:
    """A credential allowed GET /v2.1/servers lists servers and does nothing else."""
    from keystoneauth1.exceptions import Unauthorized as Refused
    from openstack import connection

    c = labs_cloud
    rules = '[{"service": "compute", "method": "GET", "path": "/v2.1/servers"}]'
    cred = c.openstack_json("application", "credential", "create", "--access-rules", rules,
                            "e2e-list-only", cloud="labs-demo")
    [rule] = c.openstack_json("access", "rule", "list", cloud="labs-demo")
    assert (rule["Service"], rule["Method"], rule["Path"]) == ("compute", "GET",
                                                               "/v2.1/servers")
    shown = c.openstack_json("access", "rule", "show", rule["ID"], cloud="labs-demo")
    assert {k.lower(): v for k, v in shown.items()}["path"] == "/v2.1/servers"
    conn = connection.Connection(
        auth_type="v3applicationcredential", region_name="RegionOne",
        auth={"auth_url": f"{c.url}/identity/v3", "application_credential_id": cred["ID"],
              "application_credential_secret": cred["Secret"]})
    try:
        assert list(conn.compute.servers(details=False)) == []
        for refused in (lambda: conn.compute.servers(details=True),
                        lambda: conn.compute.create_server(name="x", flavor_id="1",
                                                           image_id="x", networks="none"),
                        lambda: conn.compute.delete_server("0" * 32),
                        lambda: list(conn.image.images())):
            with pytest.raises(Exception) as caught:
                list(refused() or ())
            status = getattr(caught.value, "status_code", None) or getattr(
                getattr(caught.value, "response", None), "status_code", None)
            assert status == 401 or isinstance(caught.value, Refused), repr(caught.value)
    finally:
        conn.close()
    create = c.openstack("--os-auth-type", "v3applicationcredential",
                         "--os-auth-url", f"{c.url}/identity/v3",
                         "--os-application-credential-id", cred["ID"],
                         f"--os-application-credential-secret={cred['Secret']}",
                         "server", "create", "--flavor", "1", "--image", "labs",
                         "--network", "none", "e2e-refused", cloud=None, check=False)
    assert create.returncode != 0 and "401" in create.stderr, create.stderr
    # in use: the rule stays until its credential goes
    assert c.openstack("access", "rule", "delete", rule["ID"], cloud="labs-demo",
                       check=False).returncode != 0
    c.openstack("application", "credential", "delete", "e2e-list-only", cloud="labs-demo")
    c.openstack("access", "rule", "delete", rule["ID"], cloud="labs-demo")
    assert c.openstack_json("access", "rule", "list", cloud="labs-demo") == []
