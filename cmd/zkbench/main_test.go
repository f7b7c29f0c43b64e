package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/zkraft/zk"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestEmbedded: every workload runs against an embedded node with one and
// two sessions, prints a line each, and writes the same as JSON.
func TestEmbedded(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.json")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-duration", "100ms", "-sessions", "1,2", "-json", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("status %d: %s", code, stderr.String())
	}
	var results []result
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &results); err != nil {
		t.Fatal(err)
	}
	if len(results) != 2*len(allWorkloads) {
		t.Fatalf("%d results, want %d:\n%s", len(results), 2*len(allWorkloads), stdout.String())
	}
	for _, r := range results {
		if r.Ops == 0 || r.Errors != 0 || r.OpsPerS <= 0 || r.P50us <= 0 || r.P99us < r.P50us || r.MaxUs < r.P999us {
			t.Errorf("result %+v", r)
		}
		if !strings.Contains(stdout.String(), r.Workload) {
			t.Errorf("no line for %s:\n%s", r.Workload, stdout.String())
		}
	}
}

// TestOverTheWire: -servers measures an ensemble through its client port.
func TestOverTheWire(t *testing.T) {
	n, err := zk.Open(context.Background(), zk.Config{ClientAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-servers", n.ClientAddr(), "-duration", "100ms", "-sessions", "3", "-workloads", "create,get"}, &stdout, &stderr); code != 0 {
		t.Fatalf("status %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "create      3 sessions") || !strings.Contains(stdout.String(), "errors 0") {
		t.Fatalf("output:\n%s", stdout.String())
	}
}

// TestCPUProfile: -cpuprofile leaves a CPU profile of the run, in
// pprof's gzipped form.
func TestCPUProfile(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "cpu.pb")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-duration", "200ms", "-sessions", "2", "-workloads", "set", "-cpuprofile", prof}, &stdout, &stderr); code != 0 {
		t.Fatalf("status %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(prof)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 100 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("%d bytes, starting % x: not a gzipped profile", len(b), b[:min(len(b), 4)])
	}
}

// TestConnectRefused: a server that refuses connections beyond its
// per-address limit makes zkbench fail within -connect-timeout and say
// why, instead of trying for ever.
func TestConnectRefused(t *testing.T) {
	n, err := zk.Open(context.Background(), zk.Config{ClientAddr: "127.0.0.1:0", MaxClientConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-servers", n.ClientAddr(), "-sessions", "4", "-workloads", "fanout", "-connect-timeout", "300ms"}, &stdout, &stderr); code != 1 {
		t.Fatalf("status %d: %s%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "maxClientCnxns") {
		t.Fatalf("stderr does not say why:\n%s", stderr.String())
	}
}

// TestBadFlags fail with status 2.
func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-workloads", "nope"}, {"-sessions", "0"}, {"-duration", "0s"}, {"-connect-timeout", "0s"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: status %d", args, code)
		}
	}
}

// TestOpenLoop: with -rate, requests go out on a schedule: no more than
// the rate asks for, and the issue lag is reported.
func TestOpenLoop(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.json")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-workloads", "create", "-sessions", "4", "-duration", "500ms", "-rate", "400", "-json", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("status %d: %s", code, stderr.String())
	}
	var results []result
	b, _ := os.ReadFile(out)
	if err := json.Unmarshal(b, &results); err != nil || len(results) != 1 {
		t.Fatalf("%v %s", err, b)
	}
	r := results[0]
	// 400/s for 0.5 s is 200 requests on schedule; the schedule cannot
	// run ahead, whatever the machine.
	if r.Rate != 400 || r.Ops > 205 || r.Ops == 0 || r.LagP99us <= 0 || !strings.Contains(stdout.String(), "issue lag") {
		t.Fatalf("result %+v\n%s", r, stdout.String())
	}
}

// TestScenarios: fanout, ephemeral cleanup, populate and leader failover
// each run once and report their figures.
func TestScenarios(t *testing.T) {
	for _, args := range [][]string{
		{"-workloads", "fanout,ephemeral,populate", "-sessions", "20"},
		{"-embedded", "3", "-workloads", "failover", "-sessions", "4"},
	} {
		out := filepath.Join(t.TempDir(), "out.json")
		var stdout, stderr bytes.Buffer
		if code := run(append(args, "-json", out), &stdout, &stderr); code != 0 {
			t.Fatalf("%v: status %d: %s", args, code, stderr.String())
		}
		var results []result
		b, _ := os.ReadFile(out)
		if err := json.Unmarshal(b, &results); err != nil {
			t.Fatal(err)
		}
		for _, r := range results {
			want := map[string]int64{"fanout": 20, "ephemeral": 2000, "populate": 20}[r.Workload]
			if r.MaxUs <= 0 || (want > 0 && (r.Ops != want || r.Errors != 0)) {
				t.Errorf("%s: %+v", r.Workload, r)
			}
		}
	}
}

// TestPlot: -plot writes an SVG with a line per workload in each panel.
func TestPlot(t *testing.T) {
	svg := filepath.Join(t.TempDir(), "out.svg")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-workloads", "create,get", "-sessions", "1,4", "-duration", "100ms", "-plot", svg}, &stdout, &stderr); code != 0 {
		t.Fatalf("status %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.HasPrefix(s, "<svg ") || strings.Count(s, "<polyline") != 4 || !strings.Contains(s, ">create<") || !strings.Contains(s, ">get<") {
		t.Fatalf("svg:\n%s", s)
	}
}

// TestPlotFrom: -plot-from draws saved results of several systems
// together, a dash pattern per system, without measuring anything.
func TestPlotFrom(t *testing.T) {
	dir := t.TempDir()
	saved := filepath.Join(dir, "a.json")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-workloads", "get", "-sessions", "1,2", "-duration", "100ms", "-json", saved}, &stdout, &stderr); code != 0 {
		t.Fatalf("status %d: %s", code, stderr.String())
	}
	svg := filepath.Join(dir, "both.svg")
	if code := run([]string{"-plot", svg, "-plot-from", "one=" + saved + ",two=" + saved, "-title", "T"}, &stdout, &stderr); code != 0 {
		t.Fatalf("status %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if strings.Count(s, "<polyline") != 4 || strings.Count(s, "stroke-dasharray") != 3 || !strings.Contains(s, ">one get<") || !strings.Contains(s, ">two get<") || !strings.Contains(s, ">T<") {
		t.Fatalf("svg:\n%s", s)
	}
	if code := run([]string{"-plot-from", "x=" + saved}, &stdout, &stderr); code != 2 {
		t.Fatalf("-plot-from without -plot: status %d", code)
	}
}
