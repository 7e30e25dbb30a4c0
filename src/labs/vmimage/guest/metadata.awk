# What the first boot needs from meta_data.json, read from json.awk's PATH<TAB>VALUE lines:
# shell assignments of UUID, NAME, FQDN, PROJECT, PROJECT_ID, DOMAIN and SEARCH (the
# resolv.conf search list), every value cleaned to what a host name or an id may hold; and
# the ssh public keys, one a line, into the file named by -v keys=FILE.
#
#   NAME    .name as a DNS label, else the first label of .hostname, else "labs"
#   FQDN    NAME.PROJECT.DOMAIN from .meta.project_name and .meta.dns_domain (Labs);
#           else NAME plus the domain part of .hostname; else NAME
#   SEARCH  "PROJECT.DOMAIN DOMAIN", else the domain part of .hostname

function label(v) {
    v = tolower(v)
    gsub(/[^a-z0-9-]/, "-", v)
    v = substr(v, 1, 63)
    gsub(/^-+|-+$/, "", v)
    return v
}

function domain(v) {
    v = tolower(v)
    gsub(/[^a-z0-9.-]/, "", v)
    gsub(/^[.-]+|[.-]+$/, "", v)
    return v
}

function id(v) {
    gsub(/[^A-Za-z0-9-]/, "", v)
    return v
}

function sh(name, v) {
    print name "='" v "'"
}

{
    path = $1
    value = substr($0, length($1) + 2)
    if (!(path in field))
        field[path] = value
    if (path ~ /^\.public_keys\./ || path ~ /^\.keys\[[0-9]+\]\.data$/) {
        gsub(/^ +| +$/, "", value)
        if (value != "" && !(value in seen)) {
            seen[value] = 1
            if (keys != "")
                print value > keys
        }
    }
}

END {
    host = domain(field[".hostname"])
    hostdomain = index(host, ".") ? substr(host, index(host, ".") + 1) : ""
    name = label(field[".name"])
    if (name == "")
        name = label(index(host, ".") ? substr(host, 1, index(host, ".") - 1) : host)
    if (name == "")
        name = "labs"
    project = label(field[".meta.project_name"])
    dnsdomain = domain(field[".meta.dns_domain"])
    if (project != "" && dnsdomain != "") {
        fqdn = name "." project "." dnsdomain
        search = project "." dnsdomain " " dnsdomain
    } else if (hostdomain != "") {
        fqdn = name "." hostdomain
        search = hostdomain
    } else {
        fqdn = name
        search = ""
    }
    sh("UUID", id(field[".uuid"]))
    sh("NAME", name)
    sh("FQDN", fqdn)
    sh("PROJECT", project)
    sh("PROJECT_ID", id(field[".project_id"]))
    sh("DOMAIN", dnsdomain)
    sh("SEARCH", search)
    if (keys != "")
        close(keys)
}
