package main

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tlsentry/tlsentry/capture"
	"github.com/tlsentry/tlsentry/sensor"
)

// pipeline is the capture configuration c asks for; a bad checksum mode or
// memory budget is a usage error naming the key.
func (c *CaptureConfig) pipeline(workers int, filter capture.PacketFilter) (capture.Config, error) {
	mode, ok := capture.ParseChecksumMode(c.Checksums)
	if !ok {
		return capture.Config{}, fmt.Errorf("%w: capture.checksums %q: want auto, on or off", errUsage, c.Checksums)
	}
	var limit int64
	switch {
	case c.MemoryLimitMB < 0:
		limit = -1 // no budget
	case c.MemoryLimitMB > 0:
		limit = int64(c.MemoryLimitMB) << 20
	}
	return capture.Config{Workers: workers, MaxFlows: c.MaxFlows, Filter: filter, Checksums: mode, MemoryLimit: limit}, nil
}

// captureWatch turns changes of capture's counters into log lines an
// operator needs as they happen: checksum offload seen (once), memory
// pressure starting and ending.
type captureWatch struct {
	offload        bool
	started, ended uint64
}

// check compares s with what was seen before and returns the messages to
// log, each with whether it is a warning.
func (w *captureWatch) check(s capture.Snapshot) (msgs []watchMsg) {
	if n := s.Get(capture.CChecksumOffloadDirections); n > 0 && !w.offload {
		w.offload = true
		msgs = append(msgs, watchMsg{warn: true, text: fmt.Sprintf(
			"checksum offload seen (%d sender directions mostly bad): their bad checksums are accepted from here on (--checksums on refuses them)", n)})
	}
	if n := s.Get(capture.CMemPressureStarted); n > w.started {
		w.started = n
		msgs = append(msgs, watchMsg{warn: true, text: fmt.Sprintf(
			"memory budget reached: evicting flows that showed the least first (%d flows evicted so far, %d before a hello: no document)",
			s.Get(capture.CFlowsEvicted), s.Get(capture.CFlowsEvictedNoHello))})
	}
	if n := s.Get(capture.CMemPressureEnded); n > w.ended {
		w.ended = n
		msgs = append(msgs, watchMsg{text: fmt.Sprintf("memory pressure ended: %d bytes held", s.Get(capture.CMemoryBytes))})
	}
	return msgs
}

type watchMsg struct {
	warn bool
	text string
}

// captureSummary is the replay summary's line on checksums and memory, or
// "" when there is nothing to say.
func captureSummary(s capture.Snapshot) string {
	var parts []string
	if n := s.Get(capture.CChecksumBad); n > 0 {
		parts = append(parts, fmt.Sprintf("%d packets with bad checksums not used", n))
	}
	if n := s.Get(capture.CChecksumOffloaded); n > 0 {
		parts = append(parts, fmt.Sprintf("%d bad checksums accepted as offload", n))
	}
	if n := s.Get(capture.CMemPressureStarted); n > 0 {
		parts = append(parts, fmt.Sprintf("memory budget reached %d times, %d flows evicted before a hello (no document)",
			n, s.Get(capture.CFlowsEvictedNoHello)))
	}
	if n := s.Get(capture.CFlowsUnanswered); n > 0 {
		parts = append(parts, fmt.Sprintf("%d unanswered flows without a hello (no document)", n))
	}
	return strings.Join(parts, ", ")
}

// watchCapture logs what captureWatch finds, once a second, until done is
// closed.
func watchCapture(wg *sync.WaitGroup, done <-chan struct{}, sn *sensor.Sensor, log *slog.Logger) {
	defer wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var w captureWatch
	for {
		select {
		case <-done:
			return
		case <-t.C:
			for _, m := range w.check(sn.Stats().Snapshot()) {
				if m.warn {
					log.Warn(m.text)
				} else {
					log.Info(m.text)
				}
			}
		}
	}
}
