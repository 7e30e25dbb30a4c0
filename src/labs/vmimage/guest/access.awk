# The files the access daemon installs, from access.json as json.awk -v escape=1 flattens
# it (PATH <TAB> VALUE lines). -v base=DIR holds the image's own passwd, group and shadow;
# -v shells_file=FILE (default /etc/shells) lists the login shells an account may have (else
# /bin/sh); -v out=DIR receives:
#   passwd group shadow  the image's own entries, then the project's accounts, each
#                        account's own group (when its gid is its alone), and the group
#                        project-<label> with every account as a member; passwords "*":
#                        no password matches, but the account is not locked ("!" would
#                        make dropbear refuse its keys too)
#   accounts             "name uid gid home" a line
#   keys/<name>          the account's ssh keys, one a line
#   sudoers              the project's sudo rules (unescaped)
#   serial               the document's serial
# Everything is checked again here: names, ids, keys and shells that do not fit are left
# out with a message on stderr, so nothing from the document reaches a path or a shell
# unchecked. An account that clashes with the image's own (root, the login user) is left
# out, as is one whose gid is an image group's (it would join adm, sudo, shadow...) or
# whose name is the project group's. Exit status 1 when the document itself is unusable
# (no version 1, no project).

function warn(msg) {
    printf "%s\n", msg > "/dev/stderr"
}

function id_ok(v) {
    return v ~ /^[1-9][0-9]*$/ && length(v) <= 10 && v + 0 <= 4294967294
}

function unescape(v,    out, i, c) {
    out = ""
    for (i = 1; i <= length(v); i++) {
        c = substr(v, i, 1)
        if (c == "\\") {
            i++
            c = substr(v, i, 1)
            out = out (c == "n" ? "\n" : c)
        } else {
            out = out c
        }
    }
    return out
}

function read_base(name, kind,    line, f, file) {
    file = base "/" name
    while ((getline line < file) > 0) {
        print line > (out "/" name)
        split(line, f, ":")
        if (kind == "user") {
            user[f[1]] = 1
            uid_used[f[3]] = 1
        } else if (kind == "group") {
            group[f[1]] = 1
            gid_used[f[3]] = 1
            base_gid[f[3]] = 1
        }
    }
    close(file)
}

BEGIN {
    read_base("passwd", "user")
    read_base("group", "group")
    read_base("shadow", "")
    if (shells_file == "")
        shells_file = "/etc/shells"
    while ((getline line < shells_file) > 0)
        shells[line] = 1
    close(shells_file)
}

{
    path = $1
    value = substr($0, length($1) + 2)
    if (path ~ /^\.accounts\[[0-9]+\]\./) {
        i = path
        sub(/^\.accounts\[/, "", i)
        sub(/\].*/, "", i)
        if (i + 1 > n)
            n = i + 1
        field = path
        sub(/^\.accounts\[[0-9]+\]\./, "", field)
        if (field ~ /^ssh_keys\[[0-9]+\]$/)
            keys[i] = keys[i] value "\n"
        else
            acc[i, field] = value
    } else {
        doc[path] = value
    }
}

END {
    if (doc[".version"] != "1") {
        warn("access.json: not version 1")
        exit 1
    }
    gname = doc[".project.group.name"]
    pgid = doc[".project.group.gid"]
    if (gname !~ /^project-[a-z0-9][a-z0-9_-]*$/ || length(gname) > 71 || !id_ok(pgid) \
            || (gname in group) || (pgid in gid_used)) {
        warn("access.json: unusable project group " gname " " pgid)
        exit 1
    }
    gid_used[pgid] = 1
    for (i = 0; i < n; i++)
        gid_count[acc[i, "gid"]]++
    members = ""
    for (i = 0; i < n; i++) {
        name = acc[i, "shell_name"]
        uid = acc[i, "uid"]
        gid = acc[i, "gid"]
        if (name !~ /^[a-z_][a-z0-9_-]*$/ || length(name) > 32 || !id_ok(uid) \
                || !id_ok(gid)) {
            warn("access.json: account " i " left out (bad name or id)")
            continue
        }
        if ((name in user) || (uid in uid_used)) {
            warn("access.json: account " name " left out (its name or uid is taken)")
            continue
        }
        if ((gid in base_gid) || name == gname) {
            warn("access.json: account " name " left out (its gid or name is a group's)")
            continue
        }
        user[name] = 1
        uid_used[uid] = 1
        shell = acc[i, "login_shell"]
        if (!(shell in shells))
            shell = "/bin/sh"
        home = "/home/" name
        print name ":x:" uid ":" gid ":" name ":" home ":" shell > (out "/passwd")
        print name ":*:19000:0:99999:7:::" > (out "/shadow")
        print name " " uid " " gid " " home > (out "/accounts")
        if (gid_count[gid] == 1 && !(gid in gid_used) && !(name in group)) {
            print name ":x:" gid ":" > (out "/group")
            gid_used[gid] = 1
        }
        members = members (members == "" ? "" : ",") name
        printf "" > (out "/keys/" name)
        count = split(keys[i], lines, "\n")
        for (k = 1; k <= count; k++) {
            if (lines[k] ~ /^(ssh|ecdsa|sk)-[A-Za-z0-9@.-]+ [A-Za-z0-9+\/]+=*( [ -~]+)?$/)
                print lines[k] > (out "/keys/" name)
            else if (lines[k] != "")
                warn("access.json: a key of " name " left out (not a public key line)")
        }
        close(out "/keys/" name)
    }
    print gname ":x:" pgid ":" members > (out "/group")
    printf "%s", unescape(doc[".sudoers"]) > (out "/sudoers")
    serial = doc[".serial"]
    print (serial ~ /^[0-9A-Za-z_-]+$/ && length(serial) <= 128 ? serial : "") \
        > (out "/serial")
}
