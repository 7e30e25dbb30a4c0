# Flatten a JSON document into one line per scalar: PATH <TAB> VALUE, with PATH in jq's
# notation (.meta.project_name, .keys[0].data). Strings are unescaped (\uXXXX to UTF-8);
# control characters in them (newlines, tabs) become spaces, so every value is one line.
# null gives no line; true, false and numbers are printed as written. Invalid JSON: a
# message on stderr and exit status 1. With -v escape=1, a newline in a string is written
# as \n and a backslash as \\ instead (for multi-line values: the sudo rules of
# access.json); other control characters still become spaces. Runs under busybox awk
# (one small static binary instead of jq and its libraries, and much faster to start
# under software emulation).

function fail(msg) {
    printf "json.awk: %s at byte %d\n", msg, pos > "/dev/stderr"
    failed = 1
    exit 1
}

function skip_ws() {
    while (pos <= n && index(" \t\r\n", substr(s, pos, 1)))
        pos++
}

function hexval(h,    i, v, d) {
    v = 0
    for (i = 1; i <= length(h); i++) {
        d = index("0123456789abcdef", tolower(substr(h, i, 1)))
        if (d == 0)
            fail("bad \\u escape")
        v = v * 16 + d - 1
    }
    return v
}

function utf8(c) {
    if (c < 32)
        return " "
    if (c < 128)
        return sprintf("%c", c)
    if (c < 2048)
        return sprintf("%c%c", 192 + int(c / 64), 128 + c % 64)
    if (c < 65536)
        return sprintf("%c%c%c", 224 + int(c / 4096), 128 + int(c / 64) % 64, 128 + c % 64)
    return sprintf("%c%c%c%c", 240 + int(c / 262144), 128 + int(c / 4096) % 64,
                   128 + int(c / 64) % 64, 128 + c % 64)
}

function string_(    out, c, e, cp, lo, run) {
    pos++
    out = ""
    while (pos <= n) {
        # Copy a run of ordinary characters at once.
        run = substr(s, pos, 64)
        if (match(run, /^[^"\\]+/)) {
            out = out substr(run, 1, RLENGTH)
            pos += RLENGTH
            continue
        }
        c = substr(s, pos, 1)
        if (c == "\"") {
            pos++
            gsub(/[\001-\037]/, " ", out)
            return out
        }
        e = substr(s, pos + 1, 1)
        pos += 2
        if (e == "u") {
            cp = hexval(substr(s, pos, 4))
            pos += 4
            if (cp >= 55296 && cp < 56320 && substr(s, pos, 2) == "\\u") {
                lo = hexval(substr(s, pos + 2, 4))
                pos += 6
                cp = 65536 + (cp - 55296) * 1024 + (lo - 56320)
            }
            if (escape && cp == 10)
                out = out "\\n"
            else if (escape && cp == 92)
                out = out "\\\\"
            else
                out = out utf8(cp)
        } else if (escape && e == "\\") {
            out = out "\\\\"
        } else if (escape && e == "n") {
            out = out "\\n"
        } else if (e == "\"" || e == "\\" || e == "/") {
            out = out e
        } else if (index("bfnrt", e) && e != "") {
            out = out " "
        } else {
            fail("bad escape")
        }
    }
    fail("unterminated string")
}

function literal(path,    run) {
    run = substr(s, pos, 64)
    if (!match(run, /^(true|false|null|-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?)/))
        fail("unexpected character")
    pos += RLENGTH
    run = substr(run, 1, RLENGTH)
    if (run != "null")
        print path "\t" run
}

function value(path,    c, k, i) {
    skip_ws()
    c = substr(s, pos, 1)
    if (c == "{") {
        pos++
        skip_ws()
        if (substr(s, pos, 1) == "}") {
            pos++
            return
        }
        while (1) {
            skip_ws()
            if (substr(s, pos, 1) != "\"")
                fail("expected a key")
            k = string_()
            skip_ws()
            if (substr(s, pos, 1) != ":")
                fail("expected ':'")
            pos++
            value(path "." k)
            skip_ws()
            c = substr(s, pos, 1)
            pos++
            if (c == "}")
                return
            if (c != ",")
                fail("expected ',' or '}'")
        }
    } else if (c == "[") {
        pos++
        skip_ws()
        if (substr(s, pos, 1) == "]") {
            pos++
            return
        }
        for (i = 0; ; i++) {
            value(path "[" i "]")
            skip_ws()
            c = substr(s, pos, 1)
            pos++
            if (c == "]")
                return
            if (c != ",")
                fail("expected ',' or ']'")
        }
    } else if (c == "\"") {
        print path "\t" string_()
    } else {
        literal(path)
    }
}

{ s = s $0 "\n" }

END {
    if (failed)
        exit 1
    n = length(s)
    pos = 1
    value("")
    skip_ws()
    if (pos <= n)
        fail("trailing data")
}
