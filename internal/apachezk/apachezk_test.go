package apachezk

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStandaloneKillRestart(t *testing.T) {
	if ok, why := Available(); !ok {
		t.Skip(why)
	}
	e := Start(t, Options{TickTime: 300 * time.Millisecond, Config: []string{"minSessionTimeout=900"}})
	ctx := context.Background()
	if out, err := FourLetter(ctx, e.Addrs()[0], "ruok"); err != nil || out != "imok" {
		t.Fatalf("ruok: %q %v", out, err)
	}
	if m, err := e.Mode(ctx, 0); err != nil || m != "standalone" {
		t.Fatalf("mode %q %v", m, err)
	}
	conf, err := FourLetter(ctx, e.Addr(0), "conf")
	if err != nil || !strings.Contains(conf, "tickTime=300") || !strings.Contains(conf, "minSessionTimeout=900") {
		t.Fatalf("conf: %v\n%s", err, conf)
	}
	cfg, err := os.ReadFile(e.ConfigPath(0))
	if err != nil || !strings.Contains(string(cfg), "4lw.commands.whitelist=*") {
		t.Fatalf("zoo.cfg: %v\n%s", err, cfg)
	}
	e.Kill(0)
	if _, err := FourLetter(ctx, e.Addr(0), "ruok"); err == nil {
		t.Fatal("server answers after Kill")
	}
	e.Restart(0)
	if m, err := e.Mode(ctx, 0); err != nil || m != "standalone" {
		t.Fatalf("after restart: mode %q %v", m, err)
	}
}

func TestEnsembleHasLeader(t *testing.T) {
	if ok, why := Available(); !ok {
		t.Skip(why)
	}
	if testing.Short() {
		t.Skip("starts three JVMs")
	}
	e := Start(t, Options{Servers: 3, JVMFlags: []string{"-Dzookeeper.extendedTypesEnabled=true"}})
	ctx := context.Background()
	leader := e.Leader(ctx)
	if leader < 0 {
		t.Fatal("no leader")
	}
	followers := 0
	for i := range e.Addrs() {
		if m, _ := e.Mode(ctx, i); m == "follower" {
			followers++
		}
	}
	if followers != 2 {
		t.Fatalf("%d followers", followers)
	}
	envi, err := FourLetter(ctx, e.Addr(0), "envi")
	if err != nil || !strings.Contains(envi, "zookeeper.version=3.8") {
		t.Fatalf("envi: %v\n%s", err, envi)
	}
	// A new leader is elected when the old one dies.
	e.Kill(leader)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if l := e.Leader(ctx); l >= 0 && l != leader {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no new leader")
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.Restart(leader)
}
