package capture

import (
	"sync/atomic"
)

// Counter names one capture counter. Counters are kept per worker (each
// written by one goroutine only, so the hot path never contends on a cache
// line) and summed when read.
type Counter int

// Counters. Every limit in capture has one.
const (
	CPackets           Counter = iota // packets read from sources
	CBytes                            // bytes on the wire of those packets
	CFiltered                         // packets dropped by the BPF filter
	CDecodeFailed                     // packets the decoder rejected (not IP, truncated, ...)
	CNonTCP                           // decoded UDP packets (QUIC is handled by its own stage)
	CFlowsCreated                     // flows created
	CFlowsEnded                       // flows removed, for any reason
	CFlowsClosed                      // ... because of FIN both ways or RST
	CFlowsTimedOut                    // ... idle timeout (packet time)
	CFlowsAbsTimeout                  // sessions emitted at the absolute timeout (flow kept as a counting tombstone)
	CFlowsEvicted                     // ... evicted under pressure (max flows reached, or the memory budget: see CEvicted*)
	CFlowsFlushed                     // ... still open at end of input
	CSessions                         // sessions handed to the handler
	CSessionsTLS                      // ... of which TLS
	CSessionsNonTLS443                // ... of which not TLS, on port 443
	CBypassedNonTLS                   // flows that were neither TLS nor on port 443 (no session)
	CParseErrors                      // TLS sessions whose handshake had a parse error
	CBypassedPackets                  // packets counted only, after the flow stopped wanting bytes
	CReasmOutOfOrder                  // segments buffered out of order
	CReasmOOODropped                  // segments dropped because the out-of-order bound was hit
	CReasmRetransmits                 // segments (or parts) that repeated bytes already seen
	CReasmOverlaps                    // overlaps with different bytes (first-wins policy kept the old ones)
	CReasmGaps                        // holes that were never filled
	CReasmStreamLimit                 // directions cut at the per-direction byte limit
	CMidstream                        // flows whose first packet was not a SYN
	CLateAfterClose                   // packets of a flow after its session was emitted
	CDecodeNonIP                      // decode failures by reason (from Decoder.Stats)
	CDecodeNonTCPUDP
	CDecodeTruncated
	CDecodeMalformed
	CDecodeUnsupportedLink
	CDecodeTooDeep
	CFragmentsPending // gauge: IPv4 fragments held for reassembly now
	CFragmentsDropped
	CPayloadTruncated // decoded packets cut short by the snap length

	// Checksums (checksum.go) and evasion.
	CChecksumBad               // TCP/UDP packets not used: bad checksum
	CChecksumOffloaded         // bad-checksum packets used anyway: their sender looks offloaded (auto mode)
	CChecksumOffloadDirections // flow directions seen as offloaded (auto mode); non-zero: validation was skipped for them
	CFragmentOverlaps          // IP fragments that overlapped received bytes with different bytes (first wins)

	// QUIC (quic.go)
	CQUICFlows              // QUIC flows created (by a client Initial)
	CQUICPackets            // UDP datagrams of QUIC flows
	CQUICInitials           // Initial packets decrypted
	CQUICDecryptFailed      // Initial packets that did not decrypt
	CQUICMalformed          // packets or frames that broke the QUIC format
	CQUICInitialLimit       // flows that reached maxQUICInitials
	CQUICCryptoLimit        // CRYPTO data dropped at quic.MaxCrypto (or too many pieces)
	CQUICUnsupportedVersion // long-header packets on udp/443 of versions that cannot be decrypted
	CQUICGoogle             // Google QUIC (Q0xx, not TLS) packets on udp/443
	CQUICNotInitial         // QUIC packets on udp/443 of no known flow that are no client Initial
	CSessionsQUIC           // sessions of QUIC flows (also in CSessions)

	// Memory budget (memcap.go)
	CMemoryBytes         // gauge: bytes accounted against Config.MemoryLimit now
	CMemPressureStarted  // episodes of memory pressure started (a worker over its budget evicted)
	CMemPressureEnded    // ... ended (started - ended: workers under pressure now)
	CEvictedClosed       // flows evicted for memory by class: tombstones (session already emitted)
	CEvictedSYN          // ... one side only, no payload (bare SYN)
	CEvictedUnanswered   // ... one side only, with payload (no SYN-ACK, no server byte)
	CEvictedAnswered     // ... both sides sent, no hello parsed
	CEvictedHello        // ... a hello was parsed (the session is emitted, incomplete)
	CFlowsEvictedNoHello // sessions not emitted: the flow was evicted for memory before a hello
	CFlowsUnanswered     // sessions not emitted: one side never sent a packet and no hello was parsed (half-open)

	// Tombstones (tomb.go)
	CTombstones        // gauge: tombstones held now (updated once a second)
	CTombstonesDropped // tombstones dropped before their linger at Config.MaxTombstones

	// Fingerprint cache (Config.FingerprintCacheBytes), published with the
	// memory gauge (once a second of packet time, and at the end).
	CFingerprintBytes     // gauge: bytes the workers' fingerprint caches hold
	CFingerprintHits      // sessions whose JA3/JA4/JA3S came from the cache (client and server hello each count)
	CFingerprintMisses    // ... that were computed
	CFingerprintEvictions // cache entries evicted at the byte bound
	numCounters
)

var counterNames = [numCounters]string{
	CPackets:               "packets",
	CBytes:                 "bytes",
	CFiltered:              "filtered",
	CDecodeFailed:          "decode_failed",
	CNonTCP:                "udp_skipped",
	CFlowsCreated:          "flows_created",
	CFlowsEnded:            "flows_ended",
	CFlowsClosed:           "flows_closed",
	CFlowsTimedOut:         "flows_timed_out",
	CFlowsAbsTimeout:       "flows_absolute_timeout",
	CFlowsEvicted:          "flows_evicted",
	CFlowsFlushed:          "flows_flushed",
	CSessions:              "sessions",
	CSessionsTLS:           "sessions_tls",
	CSessionsNonTLS443:     "sessions_non_tls_443",
	CBypassedNonTLS:        "flows_not_tls_ignored",
	CParseErrors:           "parse_errors",
	CBypassedPackets:       "bypassed_packets",
	CReasmOutOfOrder:       "reassembly_out_of_order",
	CReasmOOODropped:       "reassembly_out_of_order_dropped",
	CReasmRetransmits:      "reassembly_retransmissions",
	CReasmOverlaps:         "reassembly_overlaps",
	CReasmGaps:             "reassembly_gaps",
	CReasmStreamLimit:      "reassembly_stream_limit",
	CMidstream:             "flows_midstream",
	CLateAfterClose:        "packets_after_close",
	CDecodeNonIP:           "decode_non_ip",
	CDecodeNonTCPUDP:       "decode_non_tcp_udp",
	CDecodeTruncated:       "decode_truncated",
	CDecodeMalformed:       "decode_malformed",
	CDecodeUnsupportedLink: "decode_unsupported_link_type",
	CDecodeTooDeep:         "decode_too_deep",
	CFragmentsPending:      "ipv4_fragments_pending",
	CFragmentsDropped:      "ipv4_fragments_dropped",
	CPayloadTruncated:      "payload_truncated",

	CChecksumBad:               "checksum_bad",
	CChecksumOffloaded:         "checksum_offloaded",
	CChecksumOffloadDirections: "checksum_offload_directions",
	CFragmentOverlaps:          "ip_fragment_overlaps_different",

	CQUICFlows:              "quic_flows",
	CQUICPackets:            "quic_packets",
	CQUICInitials:           "quic_initials_decrypted",
	CQUICDecryptFailed:      "quic_decrypt_failed",
	CQUICMalformed:          "quic_malformed",
	CQUICInitialLimit:       "quic_initial_limit",
	CQUICCryptoLimit:        "quic_crypto_limit",
	CQUICUnsupportedVersion: "quic_unsupported_version",
	CQUICGoogle:             "quic_google",
	CQUICNotInitial:         "quic_not_initial",
	CSessionsQUIC:           "sessions_quic",

	CMemoryBytes:         "memory_bytes",
	CMemPressureStarted:  "memory_pressure_started",
	CMemPressureEnded:    "memory_pressure_ended",
	CEvictedClosed:       "flows_evicted_closed",
	CEvictedSYN:          "flows_evicted_syn_only",
	CEvictedUnanswered:   "flows_evicted_unanswered",
	CEvictedAnswered:     "flows_evicted_answered",
	CEvictedHello:        "flows_evicted_hello",
	CFlowsEvictedNoHello: "flows_evicted_no_hello",
	CFlowsUnanswered:     "flows_unanswered_no_hello",

	CTombstones:        "tombstones",
	CTombstonesDropped: "tombstones_dropped",

	CFingerprintBytes:     "fingerprint_cache_bytes",
	CFingerprintHits:      "fingerprint_cache_hits",
	CFingerprintMisses:    "fingerprint_cache_misses",
	CFingerprintEvictions: "fingerprint_cache_evictions",
}

// gauges are the counters that go down as well as up (documented
// "gauge:" above).
var gauges = [numCounters]bool{CFragmentsPending: true, CMemoryBytes: true, CTombstones: true, CFingerprintBytes: true}

// Gauge reports whether c is a gauge (a level that goes down as well as
// up) rather than a count.
func (c Counter) Gauge() bool { return c >= 0 && c < numCounters && gauges[c] }

// Name is the counter's snake_case name (for logs and Prometheus).
func (c Counter) Name() string {
	if c < 0 || c >= numCounters {
		return "unknown"
	}
	return counterNames[c]
}

// Counters lists every counter, in order.
func Counters() []Counter {
	cs := make([]Counter, numCounters)
	for i := range cs {
		cs[i] = Counter(i)
	}
	return cs
}

// counters is one writer's set. Padded so two workers' sets never share a
// cache line.
type counters struct {
	v [numCounters]atomic.Uint64
	_ [64]byte
}

func (c *counters) add(k Counter, n uint64) { c.v[k].Add(n) }
func (c *counters) inc(k Counter)           { c.v[k].Add(1) }

// Stats are the live counters of a running pipeline, safe to read from any
// goroutine while it runs.
type Stats struct {
	sets []*counters
}

func newStats(n int) *Stats {
	s := &Stats{sets: make([]*counters, n)}
	for i := range s.sets {
		s.sets[i] = new(counters)
	}
	return s
}

// Snapshot sums every writer's counters now.
func (s *Stats) Snapshot() Snapshot {
	var out Snapshot
	if s == nil {
		return out
	}
	for _, set := range s.sets {
		for i := range set.v {
			out[i] += set.v[i].Load()
		}
	}
	return out
}

// Snapshot is a point-in-time copy of all counters.
type Snapshot [numCounters]uint64

// Get returns one counter.
func (s Snapshot) Get(c Counter) uint64 {
	if c < 0 || c >= numCounters {
		return 0
	}
	return s[c]
}

// ActiveFlows is the number of flows in the tables (created minus ended).
func (s Snapshot) ActiveFlows() uint64 {
	if s[CFlowsEnded] > s[CFlowsCreated] {
		return 0
	}
	return s[CFlowsCreated] - s[CFlowsEnded]
}

// Map returns the counters by name (non-zero and zero alike).
func (s Snapshot) Map() map[string]uint64 {
	m := make(map[string]uint64, numCounters+1)
	for i := range s {
		m[Counter(i).Name()] = s[i]
	}
	m["flows_active"] = s.ActiveFlows()
	return m
}

// storeDecodeStats publishes a Decoder's own counters (written by one
// goroutine) into c.
func (c *counters) storeDecodeStats(d *decodeStats) {
	c.v[CDecodeNonIP].Store(d.NonIP)
	c.v[CDecodeNonTCPUDP].Store(d.NonTCPUDP)
	c.v[CDecodeTruncated].Store(d.Truncated)
	c.v[CDecodeMalformed].Store(d.Malformed)
	c.v[CDecodeUnsupportedLink].Store(d.UnsupportedLinkType)
	c.v[CDecodeTooDeep].Store(d.TooDeep)
	c.v[CFragmentsPending].Store(d.FragmentsPending)
	c.v[CFragmentsDropped].Store(d.FragmentsDropped)
	c.v[CPayloadTruncated].Store(d.PayloadTruncated)
	c.v[CFragmentOverlaps].Store(d.FragmentOverlaps)
	failed := d.NonIP + d.NonTCPUDP + d.Truncated + d.Malformed + d.UnsupportedLinkType + d.TooDeep + d.FragmentsDropped
	c.v[CDecodeFailed].Store(failed)
}
