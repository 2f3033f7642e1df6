package tlsparse

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// Record content types (RFC 8446 5.1, RFC 6520).
const (
	recordChangeCipherSpec uint8 = 20
	recordAlert            uint8 = 21
	recordHandshake        uint8 = 22
	recordApplicationData  uint8 = 23
	recordHeartbeat        uint8 = 24
)

// Handshake message types (RFC 8446 4, RFC 5246 7.4).
const (
	typeClientHello              uint8 = 1
	typeServerHello              uint8 = 2
	typeCertificate              uint8 = 11
	typeServerKeyExchange        uint8 = 12
	typeServerHelloDone          uint8 = 14
	typeCertificateStatus        uint8 = 22
	sslv2ClientHello             uint8 = 1
	sslv2ClientMasterKey         uint8 = 2
	sslv2ServerHello             uint8 = 4
	sslv2Error                   uint8 = 0
	recordHeaderLen                    = 5
	handshakeHeaderLen                 = 4
	sslv2MaxRecord                     = 1<<15 - 1
	sslv2HeaderLen                     = 2
	maxAlertsKept                      = 16
	maxHeartbeatsKept                  = 16
	heartbeatHeaderLen                 = 3
	maxCertificatesPerDirection        = 64
	maxCertificateBytesPerConn         = 2 * MaxCertificateMessage
	maxKeptSSLv2CertificateBytes       = sslv2MaxRecord
)

// Bounds on what a Conn buffers. Anything larger is an anomaly and is
// skipped, never buffered.
const (
	// MaxRecord is the largest record accepted: 2^14 plus the 2048 bytes of
	// expansion TLS 1.2 allows (RFC 5246 6.2.3).
	MaxRecord = 1<<14 + 2048
	// MaxClientHello is the largest ClientHello buffered (post-quantum key
	// shares make 2-3 KiB common; 64 KiB is far beyond any real client).
	MaxClientHello = 64 << 10
	// MaxCertificateMessage is the largest Certificate message buffered. Real
	// chains are a few KiB, but a certificate with thousands of SANs exists in
	// the wild (zeek's tls-fragmented-handshake.pcap: a 332 KiB message, which
	// Zeek reports); pooled Conns drop buffers this large on Reset.
	MaxCertificateMessage = 512 << 10
	// MaxHandshakeMessage bounds every other handshake message buffered.
	MaxHandshakeMessage = 64 << 10
)

var (
	errRecordHeader   = fmt.Errorf("%w: record header", ErrMalformed)
	errRecordOverflow = fmt.Errorf("%w: record longer than 2^14+2048", ErrMalformed)
	errSSLv2Record    = fmt.Errorf("%w: SSLv2 record", ErrMalformed)
)

// Per-direction parser modes.
const (
	modeSniff uint8 = iota
	modeTLS
	modeSSLv2
	modeDone     // stopped: not TLS, a gap, an error, or SSLv2 encrypted
	modePreamble // inside a cleartext preamble (preamble.go)
)

// half is the parser state of one direction.
type half struct {
	mode      uint8
	encrypted bool
	hsOnly    bool // fed by FeedHandshake: handshake messages without records
	sniff     [sniffLen]byte
	sniffN    int

	// record layer
	hdr      [recordHeaderLen]byte
	hdrN     int // bytes of hdr filled; recordHeaderLen while inside a record
	recType  uint8
	recVer   uint16
	recLen   int
	recLeft  int
	records  int // records started in this direction
	recFeed  int // Feed index where the current record started
	feeds    int // Feed calls with data for this direction
	sawFirst bool

	// small fixed-size content of alert / heartbeat records
	small  [heartbeatHeaderLen]byte
	smallN int

	// handshake message reassembly: msg holds header+body of the message
	// being assembled (only for message types that are kept); skip counts
	// the bytes left of a message that is not kept.
	msg        []byte
	msgNeed    int
	skip       int
	msgRec     int    // record index where the current message started
	msgFeed    int    // Feed index where the current message started
	msgRecVer  uint16 // record version of the record where it started
	msgStarted bool
}

func (d *half) reset() {
	msg := d.msg[:0]
	if cap(msg) > MaxHandshakeMessage {
		msg = nil // do not keep a large certificate buffer in a pooled Conn
	}
	*d = half{msg: msg}
}

// maxMessage is the buffering limit for a handshake message type.
func maxMessage(typ uint8) int {
	switch typ {
	case typeClientHello:
		return MaxClientHello
	case typeCertificate:
		return MaxCertificateMessage
	}
	return MaxHandshakeMessage
}

// feedTLS runs the record layer of one direction over data.
func (c *Conn) feedTLS(dir Direction, d *half, data []byte) {
	// Stop as soon as the connection wants no more bytes, even inside one
	// chunk: the result must not depend on how capture cut the stream.
	for len(data) > 0 && d.mode == modeTLS && c.wantMore() {
		if d.hdrN < recordHeaderLen {
			if d.hdrN == 0 {
				d.recFeed = d.feeds
			}
			n := copy(d.hdr[d.hdrN:], data)
			d.hdrN += n
			data = data[n:]
			if d.hdrN < recordHeaderLen {
				return
			}
			if !c.recordStart(dir, d) {
				return
			}
			if d.recLeft == 0 {
				c.recordEnd(dir, d)
			}
			continue
		}
		n := min(d.recLeft, len(data))
		chunk := data[:n]
		data = data[n:]
		d.recLeft -= n
		c.recordContent(dir, d, chunk)
		if d.recLeft == 0 && d.mode == modeTLS {
			c.recordEnd(dir, d)
		}
	}
}

// recordStart validates a complete record header.
func (c *Conn) recordStart(dir Direction, d *half) bool {
	d.recType = d.hdr[0]
	d.recVer = uint16(d.hdr[1])<<8 | uint16(d.hdr[2])
	d.recLen = int(d.hdr[3])<<8 | int(d.hdr[4])
	d.recLeft = d.recLen
	d.records++
	d.smallN = 0
	major := d.hdr[1]
	okVersion := major == 3 || d.recType == recordHandshake && (major == 0x7f || major == 0x7e || major == 0xfb)
	if d.recType < recordChangeCipherSpec || d.recType > recordHeartbeat || !okVersion {
		if d.encrypted {
			// Past the handshake: not worth failing the session over.
			c.anomaly(AnomalyBadRecordAfterEncryption)
			d.mode = modeDone
			return false
		}
		c.fail(errRecordHeader, AnomalyMalformedRecord)
		return false
	}
	if d.recLen > MaxRecord {
		c.fail(errRecordOverflow, AnomalyRecordOverflow)
		return false
	}
	if !d.sawFirst {
		d.sawFirst = true
		c.firstRecord(dir, d)
	}
	return true
}

// firstRecord looks at a direction's first record: a stream that starts with
// anything but a handshake (or a server's alert answering a ClientHello) was
// picked up mid-connection.
func (c *Conn) firstRecord(dir Direction, d *half) {
	switch d.recType {
	case recordHandshake:
		return
	case recordAlert:
		if dir == ServerToClient && c.hs.ClientHello != nil {
			return
		}
	}
	c.anomaly(AnomalyMidstream)
	c.midstream = true
	c.setEncrypted(dir)
}

func (c *Conn) recordContent(dir Direction, d *half, chunk []byte) {
	if d.encrypted {
		return // only the header matters; see recordEnd
	}
	switch d.recType {
	case recordHandshake:
		c.feedHandshake(dir, d, chunk)
	case recordAlert:
		for _, b := range chunk {
			d.small[d.smallN] = b
			d.smallN++
			if d.smallN == 2 {
				d.smallN = 0
				c.alert(Alert{Direction: dir, Level: d.small[0], Description: d.small[1]})
			}
		}
	case recordHeartbeat:
		n := copy(d.small[d.smallN:], chunk)
		d.smallN += n
	}
}

func (c *Conn) recordEnd(dir Direction, d *half) {
	d.hdrN = 0
	if d.encrypted {
		switch d.recType {
		case recordAlert:
			c.alert(Alert{Direction: dir, Encrypted: true})
		case recordHeartbeat:
			c.heartbeat(Heartbeat{Direction: dir, RecordLength: d.recLen, Encrypted: true})
		}
		return
	}
	switch d.recType {
	case recordChangeCipherSpec:
		c.changeCipherSpec(dir)
	case recordApplicationData:
		// Cleartext direction sending application data: TLS 1.3 early data
		// or the encrypted flight after a ClientHello; the direction is
		// encrypted from here on.
		c.setEncrypted(dir)
	case recordHeartbeat:
		hb := Heartbeat{Direction: dir, RecordLength: d.recLen}
		if d.smallN == heartbeatHeaderLen {
			hb.Type = d.small[0]
			hb.DeclaredLength = int(d.small[1])<<8 | int(d.small[2])
		} else {
			c.anomaly(AnomalyMalformedHeartbeat)
		}
		c.heartbeat(hb)
		d.smallN = 0
	}
}

// feedHandshake reassembles handshake messages from record fragments. A
// message that is whole inside the chunk is parsed in place, without a copy.
func (c *Conn) feedHandshake(dir Direction, d *half, chunk []byte) {
	for len(chunk) > 0 && !d.encrypted && d.mode == modeTLS && c.hs.Err == nil && !c.stopped {
		if d.skip > 0 {
			n := min(d.skip, len(chunk))
			d.skip -= n
			chunk = chunk[n:]
			continue
		}
		if !d.msgStarted {
			d.msgStarted = true
			d.msgRec, d.msgFeed, d.msgRecVer = d.records, d.recFeed, d.recVer
			// Fast path: header and whole body in this chunk.
			if len(chunk) >= handshakeHeaderLen {
				typ, n := handshakeHeader(chunk)
				if n <= len(chunk)-handshakeHeaderLen && n <= maxMessage(typ) {
					body := chunk[handshakeHeaderLen : handshakeHeaderLen+n]
					chunk = chunk[handshakeHeaderLen+n:]
					d.msgStarted = false
					if c.wantMessage(dir, typ) {
						c.message(dir, d, typ, body)
					}
					continue
				}
			}
		}
		if len(d.msg) < handshakeHeaderLen {
			n := min(handshakeHeaderLen-len(d.msg), len(chunk))
			d.msg = append(d.msg, chunk[:n]...)
			chunk = chunk[n:]
			if len(d.msg) < handshakeHeaderLen {
				return
			}
			var typ uint8
			typ, n = handshakeHeader(d.msg)
			if !c.wantMessage(dir, typ) {
				d.msg, d.skip, d.msgStarted = d.msg[:0], n, false
				continue
			}
			if n > maxMessage(typ) {
				c.anomaly(AnomalyOversizedHandshakeMessage)
				d.msg, d.skip, d.msgStarted = d.msg[:0], n, false
				continue
			}
			d.msgNeed = handshakeHeaderLen + n
		}
		n := min(d.msgNeed-len(d.msg), len(chunk))
		d.msg = append(d.msg, chunk[:n]...)
		chunk = chunk[n:]
		if len(d.msg) == d.msgNeed {
			typ := d.msg[0]
			body := d.msg[handshakeHeaderLen:]
			d.msgStarted = false
			c.message(dir, d, typ, body)
			d.msg = d.msg[:0]
		}
	}
}

// handshakeHeader reads the type and 24-bit body length of the handshake
// message header at the start of b (at least handshakeHeaderLen bytes).
func handshakeHeader(b []byte) (typ uint8, n int) {
	s := cryptobyte.String(b[:handshakeHeaderLen])
	var l uint32
	s.ReadUint8(&typ)
	s.ReadUint24(&l)
	return typ, int(l)
}

// wantMessage reports whether a handshake message type is parsed (kept in a
// buffer) or skipped.
func (c *Conn) wantMessage(dir Direction, typ uint8) bool {
	switch typ {
	case typeClientHello:
		return dir == ClientToServer
	case typeCertificate:
		return true
	case typeServerHello, typeServerKeyExchange, typeServerHelloDone, typeCertificateStatus:
		return dir == ServerToClient
	}
	return false
}

// feedSSLv2 runs the SSLv2 record layer (2-byte headers; 3-byte headers
// with padding are accepted too) of one direction over data. Records are
// buffered whole (at most 32 KiB) and parsed as one message each.
func (c *Conn) feedSSLv2(dir Direction, d *half, data []byte) {
	for len(data) > 0 && d.mode == modeSSLv2 && c.wantMore() {
		if d.encrypted {
			d.mode = modeDone // nothing more is visible in SSLv2
			return
		}
		if d.hdrN < sslv2HeaderLen || d.hdr[0]&0x80 == 0 && d.hdrN < 3 {
			if d.hdrN == 0 {
				d.msgFeed = d.feeds
			}
			d.hdr[d.hdrN] = data[0]
			d.hdrN++
			data = data[1:]
			if d.hdrN == sslv2HeaderLen && d.hdr[0]&0x80 != 0 {
				d.recLen = int(d.hdr[0]&0x7f)<<8 | int(d.hdr[1])
			} else if d.hdrN == 3 {
				d.recLen = int(d.hdr[0]&0x3f)<<8 | int(d.hdr[1])
			} else {
				continue
			}
			d.recLeft = d.recLen
			d.records++
			d.msgRec = d.records
			d.msg = d.msg[:0]
			if d.recLen == 0 {
				c.fail(errSSLv2Record, AnomalyMalformedRecord)
				return
			}
			continue
		}
		n := min(d.recLeft, len(data))
		d.msg = append(d.msg, data[:n]...)
		data = data[n:]
		d.recLeft -= n
		if d.recLeft == 0 {
			d.hdrN = 0
			c.sslv2Message(dir, d, d.msg)
			d.msg = d.msg[:0]
		}
	}
	if d.mode == modeTLS && len(data) > 0 {
		// An SSLv2-format ClientHello upgraded to TLS: TLS records follow.
		c.feedTLS(dir, d, data)
	}
}
