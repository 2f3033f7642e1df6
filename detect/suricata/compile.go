package suricata

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tlsentry/tlsentry/session"
)

type checkKind uint8

const (
	chkTLSVersion checkKind = iota
	chkSSLVersion
	chkSSLState
	chkNotBefore
	chkNotAfter
	chkExpired
	chkValid
	chkChainLen
	chkAppProto
)

// check is a non-buffer keyword.
type check struct {
	kind checkKind
	dirs dirMask
	// tls.version
	ver uint16
	raw bool
	// ssl_version: set of version indexes, negated
	vers    [6]bool
	negated bool
	// ssl_state
	stFlags, stMask uint8
	// validity
	mode            byte // '=', '<', '>', 'r'
	epoch, epoch2   int64
	chain           uintCmp
	appTLS, appQUIC bool
}

// ruleCompiler is the state of compiling one rule's options in order.
type ruleCompiler struct {
	r           *Rule
	cur         *section // the current sticky buffer
	lastContent *item    // the last content of cur
	haveSID     bool
}

func (rc *ruleCompiler) newSection(k bufKind) {
	rc.cur = &section{buf: k, dirs: bufInfos[k].dirs}
	rc.r.sections = append(rc.r.sections, rc.cur)
	rc.lastContent = nil
}

func (rc *ruleCompiler) needContent(kw string) (*item, error) {
	if rc.lastContent == nil {
		return nil, fmt.Errorf("%s without a preceding content", kw)
	}
	return rc.lastContent, nil
}

func (r *Rule) compile(opts []option) error {
	contents := 0
	for _, o := range opts {
		if n := strings.ToLower(o.name); n == "content" || n == "pcre" {
			contents++
		}
	}
	if contents > maxRuleContents {
		return fmt.Errorf("%d content and pcre keywords, over the limit of %d", contents, maxRuleContents)
	}
	rc := &ruleCompiler{r: r}
	for _, o := range opts {
		if err := rc.option(o); err != nil {
			return err
		}
	}
	if !rc.haveSID {
		return errors.New("rule has no sid")
	}
	for _, sec := range r.sections {
		if len(sec.items) == 0 {
			return skip(bufInfos[sec.buf].name, "sticky buffer without content, pcre or bsize")
		}
	}
	return nil
}

// option compiles one option: a sticky buffer, a transform, or a keyword
// of one of the families below.
func (rc *ruleCompiler) option(o option) error {
	name := strings.ToLower(o.name)
	if k, ok := stickyNames[name]; ok && !o.has {
		rc.newSection(k)
		return nil
	}
	if tr, ok := transformNames[name]; ok {
		if rc.cur == nil {
			return skip(name, "transform without a sticky buffer")
		}
		if len(rc.cur.items) > 0 {
			return errors.New(name + ": transform after content (transforms must directly follow the sticky buffer)")
		}
		rc.cur.transforms = append(rc.cur.transforms, tr)
		return nil
	}
	for _, family := range [...]func(string, option) (bool, error){rc.meta, rc.content, rc.tls} {
		if ok, err := family(name, o); ok {
			return err
		}
	}
	if _, ok := stickyNames[name]; ok {
		return fmt.Errorf("%s: sticky buffer takes no value", name)
	}
	return skip(name, "keyword not supported")
}

// meta compiles the keywords that describe the rule rather than match:
// msg, sid, rev, gid, classtype, priority, reference, metadata, target,
// threshold, detection_filter and the ignored ones. It reports whether
// name is one of them.
func (rc *ruleCompiler) meta(name string, o option) (bool, error) {
	r := rc.r
	switch name {
	case "msg":
		s, err := unquote(o.value)
		if err != nil {
			return true, fmt.Errorf("msg: %v", err)
		}
		r.Msg = s
	case "sid", "rev", "gid":
		n, err := strconv.ParseUint(strings.TrimSpace(o.value), 10, 64)
		if err != nil {
			return true, fmt.Errorf("%s: invalid number %q", name, trunc(o.value))
		}
		switch name {
		case "sid":
			r.SID, rc.haveSID = n, true
		case "rev":
			r.Rev = n
		default:
			r.GID = n
		}
	case "classtype":
		r.Classtype = strings.TrimSpace(o.value)
	case "priority":
		n, err := strconv.Atoi(strings.TrimSpace(o.value))
		if err != nil {
			return true, fmt.Errorf("priority: invalid number %q", trunc(o.value))
		}
		r.Priority = n
	case "reference":
		r.References = append(r.References, strings.TrimSpace(o.value))
	case "metadata":
		for _, m := range strings.Split(o.value, ",") {
			if m = strings.TrimSpace(m); m != "" {
				r.Metadata = append(r.Metadata, m)
			}
		}
	case "target":
		t := strings.TrimSpace(o.value)
		if t != "src_ip" && t != "dest_ip" {
			return true, fmt.Errorf("target: want src_ip or dest_ip, got %q", trunc(t))
		}
		r.Target = t
	case "threshold":
		if r.Threshold != nil || r.DetectionFilter != nil {
			return true, errors.New("threshold: one threshold or detection_filter per rule (Suricata refuses more)")
		}
		t, err := parseThreshold(o.value)
		if err != nil {
			return true, fmt.Errorf("threshold: %v", err)
		}
		r.Threshold = t
	case "detection_filter":
		if r.Threshold != nil || r.DetectionFilter != nil {
			return true, errors.New("detection_filter: one threshold or detection_filter per rule (Suricata refuses more)")
		}
		t, err := parseThreshold("type threshold, " + o.value)
		if err != nil {
			return true, fmt.Errorf("detection_filter: %v", err)
		}
		r.DetectionFilter = &DetectionFilter{Track: t.Track, Count: t.Count, Seconds: t.Seconds, Raw: o.value}
	case "prefilter", "requires", "tls_store", "tls.store":
		// Accepted and ignored: they do not change whether the rule
		// matches (requires: is not evaluated; this engine stands for
		// Suricata 8 with JA3 and JA4 enabled).
	default:
		return false, nil
	}
	return true, nil
}

// content compiles content, pcre, isdataat, bsize and the content
// modifiers, on the current sticky buffer. It reports whether name is one
// of them.
func (rc *ruleCompiler) content(name string, o option) (bool, error) {
	switch name {
	case "fast_pattern":
		if rc.lastContent != nil {
			rc.lastContent.fastPattern = true
		}
	case "content":
		if rc.cur == nil {
			return true, skip("content", "content on the packet payload (no TLS sticky buffer)")
		}
		pat, neg, err := parseContentString(o.value)
		if err != nil {
			return true, fmt.Errorf("content: %v", err)
		}
		switch bufInfos[rc.cur.buf].fold {
		case foldLower:
			pat = []byte(strings.ToLower(string(pat)))
		case foldUpper:
			pat = []byte(strings.ToUpper(string(pat)))
		}
		it := &item{kind: itemContent, pat: pat, negated: neg}
		rc.cur.items = append(rc.cur.items, it)
		rc.lastContent = it
	case "nocase":
		it, err := rc.needContent(name)
		if err != nil {
			return true, err
		}
		it.nocase = true
		it.lpat = lowerInto(nil, it.pat)
	case "startswith":
		it, err := rc.needContent(name)
		if err != nil {
			return true, err
		}
		if it.hasOffset || it.hasDepth || it.isRelative() {
			return true, errors.New("startswith: cannot mix with depth, offset, distance or within")
		}
		it.startswith, it.hasDepth, it.depth = true, true, len(it.pat)
	case "endswith":
		it, err := rc.needContent(name)
		if err != nil {
			return true, err
		}
		it.endswith = true
	case "depth", "offset", "distance", "within":
		it, err := rc.needContent(name)
		if err != nil {
			return true, err
		}
		n, err := strconv.Atoi(strings.TrimSpace(o.value))
		if err != nil {
			// byte_extract variables are not supported
			return true, skip(name, "non-numeric value %q (byte_extract variable?)", trunc(o.value))
		}
		if err := setPos(it, name, n); err != nil {
			return true, err
		}
	case "rawbytes":
		// no effect on sticky buffers
	case "isdataat":
		if rc.cur == nil {
			return true, skip(name, "isdataat on the packet payload (no TLS sticky buffer)")
		}
		v := strings.TrimSpace(o.value)
		it := &item{kind: itemIsdataat}
		if strings.HasPrefix(v, "!") {
			it.negated = true
			v = v[1:]
		}
		num, rest, _ := strings.Cut(v, ",")
		if strings.TrimSpace(rest) == "relative" {
			it.relative = true
		} else if strings.TrimSpace(rest) != "" {
			return true, fmt.Errorf("isdataat: unknown option %q", trunc(rest))
		}
		n, err := strconv.Atoi(strings.TrimSpace(num))
		if err != nil {
			return true, skip(name, "non-numeric value %q (byte_extract variable?)", trunc(num))
		}
		if n < 0 || n > 65535 {
			return true, fmt.Errorf("isdataat: %d out of range", n)
		}
		it.n = n
		rc.cur.items = append(rc.cur.items, it)
	case "bsize":
		if rc.cur == nil {
			return true, skip(name, "bsize without a sticky buffer")
		}
		u, err := parseUint(o.value, 1<<32)
		if err != nil {
			return true, fmt.Errorf("bsize: %v", err)
		}
		rc.cur.items = append(rc.cur.items, &item{kind: itemBsize, cmp: u})
	case "pcre":
		if rc.cur == nil {
			return true, skip("pcre", "pcre on the packet payload (no TLS sticky buffer)")
		}
		re, neg, rel, kw, err := compilePcre(o.value)
		if err != nil {
			if kw == "" {
				return true, fmt.Errorf("pcre: %v", err)
			}
			return true, skip(kw, "%v", err)
		}
		it := &item{kind: itemPcre, re: re, negated: neg, relative: rel}
		rc.cur.items = append(rc.cur.items, it)
	default:
		return false, nil
	}
	return true, nil
}

// tls compiles the TLS keywords that are not sticky buffers (tls.version,
// ssl_version, ssl_state, certificate validity and chain, the legacy
// tls.subject forms, app-layer-protocol) and flow. It reports whether name
// is one of them.
func (rc *ruleCompiler) tls(name string, o option) (bool, error) {
	r := rc.r
	switch name {
	case "tls.subject", "tls.issuerdn", "tls.fingerprint":
		// Legacy value forms. tls.fingerprint is, in Suricata, a content
		// on tls.cert_fingerprint (so the value is lower-cased by that
		// buffer's setup callback); tls.subject and tls.issuerdn are a
		// case-sensitive substring search of cert0's subject / issuer,
		// with '!' negation. Both are modelled as a one-content section.
		v := strings.TrimSpace(o.value)
		neg := strings.HasPrefix(v, "!")
		if neg {
			v = strings.TrimSpace(v[1:])
		}
		s, err := unquote(v)
		if err != nil || s == "" || !strings.HasPrefix(v, "\"") {
			return true, fmt.Errorf("%s: quoted value required", name)
		}
		k := map[string]bufKind{"tls.subject": bufCertSubject, "tls.issuerdn": bufCertIssuer, "tls.fingerprint": bufCertFingerprint}[name]
		pat := []byte(s)
		if k == bufCertFingerprint {
			pat = []byte(strings.ToLower(s))
		}
		sec := &section{buf: k, dirs: bufInfos[k].dirs, items: []*item{{kind: itemContent, pat: pat, negated: neg}}}
		r.sections = append(r.sections, sec) // the active sticky buffer stays
	case "tls.version":
		c, err := parseTLSVersion(o.value)
		if err != nil {
			return true, fmt.Errorf("tls.version: %v", err)
		}
		r.checks = append(r.checks, c)
	case "ssl_version":
		c, err := parseSSLVersion(o.value)
		if err != nil {
			return true, fmt.Errorf("ssl_version: %v", err)
		}
		r.checks = append(r.checks, c)
	case "ssl_state":
		c, err := parseSSLState(o.value)
		if err != nil {
			return true, fmt.Errorf("ssl_state: %v", err)
		}
		r.checks = append(r.checks, c)
	case "tls_cert_notbefore", "tls_cert_notafter", "tls.cert_notbefore", "tls.cert_notafter":
		c, err := parseValidity(o.value)
		if err != nil {
			return true, fmt.Errorf("%s: %v", name, err)
		}
		c.kind = chkNotBefore
		if strings.HasSuffix(name, "notafter") {
			c.kind = chkNotAfter
		}
		r.checks = append(r.checks, c)
	case "tls_cert_expired", "tls.cert_expired":
		r.checks = append(r.checks, check{kind: chkExpired, dirs: toClient})
	case "tls_cert_valid", "tls.cert_valid":
		r.checks = append(r.checks, check{kind: chkValid, dirs: toClient})
	case "tls.cert_chain_len":
		u, err := parseUint(o.value, 1<<32-1)
		if err != nil {
			return true, fmt.Errorf("tls.cert_chain_len: %v", err)
		}
		r.checks = append(r.checks, check{kind: chkChainLen, dirs: toClient, chain: u})
	case "app-layer-protocol":
		v := strings.TrimSpace(o.value)
		switch v {
		case "tls":
			r.checks = append(r.checks, check{kind: chkAppProto, dirs: bothDirs, appTLS: true})
		case "quic":
			r.checks = append(r.checks, check{kind: chkAppProto, dirs: bothDirs, appQUIC: true})
		default:
			return true, skip(name, "app-layer-protocol %q", trunc(v))
		}
	case "flow":
		if err := r.parseFlow(o.value); err != nil {
			return true, err
		}
	default:
		return false, nil
	}
	return true, nil
}

func setPos(it *item, name string, n int) error {
	if n > 65535 || n < -65535 {
		return fmt.Errorf("%s: %d out of range (Suricata allows at most 65535)", name, n)
	}
	if it.startswith {
		return errors.New(name + ": cannot be used with startswith")
	}
	switch name {
	case "depth":
		if n <= 0 || it.isRelative() {
			return errors.New("depth: must be positive and not mixed with distance/within")
		}
		if n < len(it.pat) {
			return fmt.Errorf("depth %d smaller than the content (%d bytes)", n, len(it.pat))
		}
		it.depth, it.hasDepth = n, true
	case "offset":
		if n < 0 || it.isRelative() {
			return errors.New("offset: must be >= 0 and not mixed with distance/within")
		}
		it.offset, it.hasOffset = n, true
	case "distance":
		if it.hasOffset || it.hasDepth {
			return errors.New("distance: cannot mix with offset/depth")
		}
		it.distance, it.hasDistance = n, true
	case "within":
		if it.hasOffset || it.hasDepth {
			return errors.New("within: cannot mix with offset/depth")
		}
		if n < len(it.pat) {
			return fmt.Errorf("within %d smaller than the content (%d bytes)", n, len(it.pat))
		}
		it.within, it.hasWithin = n, true
	}
	return nil
}

func (r *Rule) parseFlow(v string) error {
	for _, f := range strings.Split(v, ",") {
		switch strings.TrimSpace(f) {
		case "established":
			r.flow.established = true
		case "not_established":
			r.flow.notEstablished = true
		case "stateless":
		case "to_server", "from_client":
			r.dirs &= toServer
		case "to_client", "from_server":
			r.dirs &= toClient
		default:
			return skip("flow", "flow option %q", trunc(strings.TrimSpace(f)))
		}
	}
	if r.dirs == 0 {
		return errors.New("flow: both to_server and to_client")
	}
	return nil
}

var thresholdRe = regexp.MustCompile(`^\s*(type|track|count|seconds|multiplier)\s+(\S+)\s*$`)

func parseThreshold(v string) (*Threshold, error) {
	t := &Threshold{Raw: strings.TrimSpace(v)}
	seen := map[string]bool{}
	for _, part := range strings.Split(v, ",") {
		m := thresholdRe.FindStringSubmatch(part)
		if m == nil {
			return nil, fmt.Errorf("malformed %q", trunc(strings.TrimSpace(part)))
		}
		seen[m[1]] = true
		switch m[1] {
		case "type":
			switch m[2] {
			case "limit", "threshold", "both", "backoff":
			default:
				return nil, fmt.Errorf("unknown type %q", m[2])
			}
			t.Type = m[2]
		case "track":
			switch m[2] {
			case "by_src", "by_dst", "by_rule", "by_both", "by_flow":
			default:
				return nil, fmt.Errorf("unknown track %q", m[2])
			}
			t.Track = m[2]
		case "multiplier":
			n, err := strconv.Atoi(m[2])
			if err != nil || n < 2 {
				return nil, fmt.Errorf("bad multiplier %q", m[2])
			}
			t.Multiplier = n
		case "count", "seconds":
			n, err := strconv.Atoi(m[2])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("bad %s %q", m[1], m[2])
			}
			if m[1] == "count" {
				t.Count = n
			} else {
				t.Seconds = n
			}
		}
	}
	if !seen["type"] || !seen["track"] || !seen["count"] || (!seen["seconds"] && t.Type != "backoff") {
		return nil, errors.New("needs type, track, count and seconds")
	}
	if (t.Type == "backoff") != seen["multiplier"] {
		return nil, errors.New("multiplier goes with type backoff, and only with it")
	}
	return t, nil
}

func parseTLSVersion(v string) (check, error) {
	c := check{kind: chkTLSVersion, dirs: bothDirs}
	s := strings.Trim(strings.TrimSpace(v), `"`)
	switch {
	case strings.HasPrefix(s, "1.0"):
		c.ver = 0x0301
	case strings.HasPrefix(s, "1.1"):
		c.ver = 0x0302
	case strings.HasPrefix(s, "1.2"):
		c.ver = 0x0303
	case strings.HasPrefix(s, "1.3"):
		c.ver = 0x0304
	case strings.HasPrefix(s, "0x") && len(s) == 6:
		n, err := strconv.ParseUint(s[2:], 16, 16)
		if err != nil {
			return c, fmt.Errorf("invalid value %q", trunc(s))
		}
		c.ver, c.raw = uint16(n), true
	default:
		return c, fmt.Errorf("invalid value %q", trunc(s))
	}
	return c, nil
}

var sslVersionWords = []string{"sslv2", "sslv3", "tls1.0", "tls1.1", "tls1.2", "tls1.3"}

func parseSSLVersion(v string) (check, error) {
	c := check{kind: chkSSLVersion, dirs: bothDirs}
	s := strings.TrimSpace(v)
	if s == "" {
		return c, errors.New("empty value")
	}
	if s[0] == '!' {
		c.negated = true
		s = s[1:]
	}
	any := false
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		found := false
		for i, kw := range sslVersionWords {
			if strings.EqualFold(w, kw) {
				if c.vers[i] {
					return c, errors.New("duplicate value")
				}
				c.vers[i], found, any = true, true, true
			}
		}
		if !found {
			return c, fmt.Errorf("unknown value %q", trunc(w))
		}
	}
	if !any {
		return c, errors.New("empty value")
	}
	return c, nil
}

func sslVersionIndex(ver uint16) int {
	switch {
	case ver == 0x0002:
		return 0
	case ver == 0x0300:
		return 1
	case ver == 0x0301:
		return 2
	case ver == 0x0302:
		return 3
	case ver == 0x0303:
		return 4
	case ver == 0x0304, ver >= 0x7f00 && ver <= 0x7f1c:
		return 5
	}
	return -1
}

const (
	stClientHello uint8 = 1 << iota
	stServerHello
	stClientKeyx
	stServerKeyx
	stUnknown
)

var sslStateNames = map[string]uint8{
	"client_hello": stClientHello, "server_hello": stServerHello,
	"client_keyx": stClientKeyx, "server_keyx": stServerKeyx, "unknown": stUnknown,
}

func parseSSLState(v string) (check, error) {
	c := check{kind: chkSSLState, dirs: bothDirs}
	for _, p := range strings.Split(v, "|") {
		p = strings.TrimSpace(p)
		neg := strings.HasPrefix(p, "!")
		if neg {
			p = strings.TrimSpace(p[1:])
		}
		f, ok := sslStateNames[p]
		if !ok {
			return c, fmt.Errorf("unknown state %q", trunc(p))
		}
		c.stFlags |= f
		if neg {
			c.stMask |= f
		}
	}
	return c, nil
}

var validityRe = regexp.MustCompile(`^\s*(<|>)?\s*([ -:TW0-9]+)\s*(?:(<>)\s*([ -:TW0-9]+))?\s*$`)

func parseValidity(v string) (check, error) {
	c := check{dirs: toClient, mode: '='}
	m := validityRe.FindStringSubmatch(v)
	if m == nil {
		return c, fmt.Errorf("invalid value %q", trunc(v))
	}
	e1, err := dateToEpoch(strings.TrimSpace(m[2]))
	if err != nil {
		return c, err
	}
	c.epoch = e1
	switch {
	case m[3] == "<>":
		if m[1] != "" {
			return c, errors.New("range with a comparison operator")
		}
		e2, err := dateToEpoch(strings.TrimSpace(m[4]))
		if err != nil {
			return c, err
		}
		c.mode, c.epoch2 = 'r', e2
	case m[1] == "<":
		c.mode = '<'
	case m[1] == ">":
		c.mode = '>'
	}
	return c, nil
}

var dateLayouts = []string{
	"2006", "2006-01", "2006-01-02", "2006-01-02 15", "2006-01-02 15:04", "2006-01-02 15:04:05",
	"2006-01-02T15", "2006-01-02T15:04", "2006-01-02T15:04:05",
}

// dateToEpoch follows Suricata's DateStringToEpoch: all digits (other than
// a 4-digit year) is an epoch; else the ISO 8601 layouts, UTC.
func dateToEpoch(s string) (int64, error) {
	digits := s != ""
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			digits = false
		}
	}
	if digits && len(s) != 4 {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bad epoch %q", trunc(s))
		}
		return n, nil
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.Unix(), nil
		}
	}
	return 0, fmt.Errorf("bad date %q", trunc(s))
}

// matchCheck evaluates a non-buffer keyword in direction d.
func (c *evalCtx) matchCheck(ck *check, d int) bool {
	s := c.s
	switch ck.kind {
	case chkAppProto:
		return ck.appTLS && s.Protocol == session.TLS || ck.appQUIC && s.Protocol == session.QUIC
	}
	if s.TLS == nil || s.Protocol != session.TLS && s.Protocol != session.QUIC {
		return false
	}
	switch ck.kind {
	case chkTLSVersion:
		v := version(s.TLS, d)
		if !ck.raw && v>>8 == 0x7f {
			v = 0x0304
		}
		return v != 0 && v == ck.ver
	case chkSSLVersion:
		i := sslVersionIndex(version(s.TLS, d))
		if i < 0 {
			return false // Suricata: an unknown version never matches, negated or not
		}
		return ck.vers[i] != ck.negated
	case chkSSLState:
		for _, st := range observedStates(s) {
			if (ck.stFlags&st)^ck.stMask != 0 {
				return true
			}
		}
		return false
	case chkChainLen:
		if d != 1 {
			return false
		}
		return ck.chain.match(uint64(len(c.certsOf(1))))
	}
	cv := c.leaf(d)
	if cv == nil || !cv.ok {
		return false
	}
	var e int64
	switch ck.kind {
	case chkExpired:
		return s.End.Unix() > cv.notAfter.Unix()
	case chkValid:
		return s.End.Unix() <= cv.notAfter.Unix()
	case chkNotBefore:
		e = cv.notBefore.Unix()
	default:
		e = cv.notAfter.Unix()
	}
	if e == 0 {
		return false
	}
	switch ck.mode {
	case '=':
		return e == ck.epoch
	case '<':
		return e <= ck.epoch
	case '>':
		return e >= ck.epoch
	case 'r':
		return e >= ck.epoch && e <= ck.epoch2
	}
	return false
}

// observedStates approximates the handshake messages Suricata's parser
// would have set as current state on some packet of the connection.
func observedStates(s *session.Session) []uint8 {
	h := s.TLS
	var out []uint8
	if h.ClientHello != nil {
		out = append(out, stClientHello)
	}
	if h.ServerHello != nil {
		out = append(out, stServerHello)
	}
	if h.KeyExchange != nil {
		out = append(out, stServerKeyx)
	}
	if h.ClientEncrypted && h.ServerHello != nil && h.ServerHello.Version() <= 0x0303 && !h.Resumed {
		out = append(out, stClientKeyx)
	}
	return out
}
