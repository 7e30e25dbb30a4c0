"""The accounts' directory: a private OpenLDAP server Labs runs (`slapd`), or one that
exists elsewhere."""
