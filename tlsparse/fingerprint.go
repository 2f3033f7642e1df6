package tlsparse

// JA3 returns the JA3 string and its MD5 (lower-case hex) as salesforce/ja3
// defines them. TODO(tlsparse): placeholder contract.
func JA3(ch *ClientHello) (full, hash string) { return "", "" }

// JA3S returns the JA3S string and its MD5. TODO(tlsparse): placeholder contract.
func JA3S(sh *ServerHello) (full, hash string) { return "", "" }

// JA4 returns the JA4 fingerprint (FoxIO); quic selects the "q" transport.
// TODO(tlsparse): placeholder contract.
func JA4(ch *ClientHello, quic bool) string { return "" }
