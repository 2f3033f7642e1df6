package tlsparse

import (
	"slices"
	"strings"
	"testing"
)

func TestAnomalyTable(t *testing.T) {
	seen := map[string]bool{}
	for i, info := range anomalyTable {
		if info.Anomaly != Anomaly(i) {
			t.Errorf("%s: table row %d holds constant %d", info.Name, i, info.Anomaly)
		}
		if info.Name == "" || info.Name != strings.ToLower(info.Name) || strings.ContainsAny(info.Name, " -.") {
			t.Errorf("row %d: name %q is not a lower-case snake_case word", i, info.Name)
		}
		if seen[info.Name] {
			t.Errorf("%s: listed twice", info.Name)
		}
		seen[info.Name] = true
		if info.Stage < StageCapture || info.Stage > StageTLS || info.Meaning == "" {
			t.Errorf("%s: stage %v, meaning %q", info.Name, info.Stage, info.Meaning)
		}
		if a, ok := AnomalyByName(info.Name); !ok || a != info.Anomaly {
			t.Errorf("AnomalyByName(%q) = %v, %v", info.Name, a, ok)
		}
	}
	if numAnomalies > 64 {
		t.Fatalf("%d anomalies do not fit AnomalySet", numAnomalies)
	}
	if _, ok := AnomalyByName("no_such_anomaly"); ok {
		t.Error("AnomalyByName found a name that is not in the table")
	}
	names := make([]string, 0, numAnomalies)
	for _, info := range AnomalyTable() {
		names = append(names, info.Name)
	}
	if !slices.IsSorted(names) || len(names) != int(numAnomalies) {
		t.Errorf("AnomalyTable is not every anomaly sorted by name: %v", names)
	}
}

func TestAnomalySet(t *testing.T) {
	var s AnomalySet
	if s.Names() != nil || s.Len() != 0 || s.String() != "[]" {
		t.Errorf("empty set: %v %d %q", s.Names(), s.Len(), s.String())
	}
	s.Add(AnomalyTCPOverlap)
	s.Add(AnomalyMidstream)
	s.Add(AnomalyFragmentedHello)
	s.Add(AnomalyMidstream)
	if got, want := s.Names(), []string{"fragmented_hello", "midstream", "tcp_overlap"}; !slices.Equal(got, want) {
		t.Errorf("Names = %v, want %v (sorted, once each)", got, want)
	}
	s.Remove(AnomalyMidstream)
	if s.Has(AnomalyMidstream) || !s.Has(AnomalyTCPOverlap) || s.Len() != 2 {
		t.Errorf("after Remove: %v", s)
	}
	if AnomalySet(1<<63).Names() != nil {
		t.Error("bits outside the table have names")
	}
	if Anomaly(200).String() != "unknown" {
		t.Error("an anomaly outside the table has a name")
	}
}
