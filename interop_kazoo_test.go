package zk_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// kazooScenario is one run of a script under testdata/interop: the checks
// it must report "ok", and those it may report "skip" instead, when the
// server lacks what they need.
type kazooScenario struct {
	script  string
	name    string
	checks  []string
	maySkip []string // checks that may print "skip NAME: reason" instead of ok
}

var kazooScenarios = []kazooScenario{
	{script: "kazoo_api.py", name: "crud", checks: []string{
		"create_stat", "get", "exists", "set_data", "versions", "children_stat", "errors",
		"empty_and_large_data", "makepath_and_recursive_delete", "unicode", "other_server_after_sync",
		"root_and_zookeeper", "default_acl",
	}},
	{script: "kazoo_api.py", name: "ephemeral_sequential", checks: []string{
		"ephemeral", "sequential", "ephemeral_sequential", "ephemerals_end_with_session",
	}},
	{script: "kazoo_api.py", name: "data_watch", checks: []string{
		"data_watch_initial", "data_watch_sequence", "data_watch_ignores_children",
	}},
	{script: "kazoo_api.py", name: "children_watch", checks: []string{
		"children_watch_initial", "children_watch_sequence",
	}},
	{script: "kazoo_api.py", name: "raw_watches", checks: []string{
		"get_watch_fires_once", "exists_watch_on_missing", "children_watch_and_delete", "watches_of_a_deleted_parent",
		"watch_order",
	}},
	{script: "kazoo_api.py", name: "watch_after_nonode", checks: []string{
		"exists_watch_after_get_nonode", "get_watch_after_get_nonode", "data_watch_recreate",
	}},
	{script: "kazoo_api.py", name: "session_resume", checks: []string{
		"resume_after_connection_drop", "watch_after_resume", "ephemeral_ends_with_resumed_session",
	}},
	{script: "kazoo_api.py", name: "consistency", checks: []string{
		"read_your_writes", "read_after_node_exists", "read_after_bad_version",
	}},
	{script: "kazoo_api.py", name: "transaction", checks: []string{
		"transaction_commit", "transaction_rollback", "transaction_errors", "transaction_context_manager",
	}},
	{script: "kazoo_api.py", name: "acl", checks: []string{
		"digest_acl", "get_acls", "add_auth", "wrong_password", "set_acls", "create_and_delete_perms",
		"auth_scheme", "ip_acl", "invalid_acl",
	}},
	{script: "kazoo_api.py", name: "server_version", checks: []string{"ruok", "server_version"}},
	{script: "kazoo_recipes.py", name: "lock", checks: []string{
		"lock_mutual_exclusion", "lock_timeout_and_contenders", "lock_released_by_session_end",
	}},
	{script: "kazoo_recipes.py", name: "election", checks: []string{
		"election_one_leader", "election_next_takes_over", "election_leader_session_ends",
	}},
	{script: "kazoo_recipes.py", name: "queue", checks: []string{"queue_priority", "queue_every_item_once"}},
	{script: "kazoo_recipes.py", name: "locking_queue", checks: []string{
		"locking_queue_release", "locking_queue_every_item_once",
	}},
	{script: "kazoo_recipes.py", name: "barrier", checks: []string{"barrier", "double_barrier"}},
	{script: "kazoo_recipes.py", name: "counter", checks: []string{"counter_basic", "counter_concurrent"}},
	{script: "kazoo_recipes.py", name: "party", checks: []string{"party", "shallow_party"}},
}

// TestInteropKazoo runs Python's kazoo against a three-node ensemble:
// the client API (CRUD with Stat fields, ephemeral and sequential nodes,
// DataWatch and ChildrenWatch, one-shot watches, a session resumed after
// its connection drops, transactions, ACLs, server_version) and the
// recipes (Lock, Election, Queue, LockingQueue, Barrier, DoubleBarrier,
// Counter, Party), each scenario a run of a script under testdata/interop
// that prints a line per check.
func TestInteropKazoo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Python clients against a three-node ensemble")
	}
	py := kazooPython(t)
	c := startInteropCluster(t, 3)
	for _, sc := range kazooScenarios {
		t.Run(strings.TrimSuffix(sc.script, ".py")+"/"+sc.name, func(t *testing.T) {
			runKazoo(t, py, c.Servers(), sc)
		})
	}
}

// runKazoo runs one scenario and checks what it printed.
func runKazoo(t *testing.T, py, servers string, sc kazooScenario) {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("testdata", "interop", sc.script))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, py, "-u", script, servers, sc.name)
	cmd.Dir = filepath.Dir(script)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1") // no __pycache__ in testdata
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	t.Logf("%s %s (%v):\n%s", sc.script, sc.name, time.Since(start).Round(time.Millisecond), out)
	if ctx.Err() != nil {
		t.Fatalf("%s %s did not finish: %v", sc.script, sc.name, ctx.Err())
	}
	var problems []string
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		problems = append(problems, fmt.Sprintf("%s %s exited with status %d", sc.script, sc.name, exit.ExitCode()))
	case err != nil:
		t.Fatalf("running %s: %v", sc.script, err)
	}
	ok := map[string]bool{}
	skipped := map[string]string{}
	passed := false
	lines := bufio.NewScanner(bytes.NewReader(out))
	for lines.Scan() {
		line := lines.Text()
		switch {
		case strings.HasPrefix(line, "ok "):
			name, _, _ := strings.Cut(strings.TrimPrefix(line, "ok "), ":")
			ok[name] = true
		case strings.HasPrefix(line, "skip "):
			name, reason, _ := strings.Cut(strings.TrimPrefix(line, "skip "), ":")
			skipped[name] = strings.TrimSpace(reason)
		case strings.HasPrefix(line, "FAIL "):
			problems = append(problems, line)
		case line == "PASS "+sc.name:
			passed = true
		}
	}
	for _, name := range sc.checks {
		switch reason, skip := skipped[name]; {
		case ok[name]:
		case skip && slices.Contains(sc.maySkip, name):
			t.Logf("check %s skipped: %s", name, reason)
		case skip:
			problems = append(problems, fmt.Sprintf("check %s skipped (%s); it must run", name, reason))
		default:
			problems = append(problems, fmt.Sprintf("check %s: no ok line", name))
		}
	}
	if !passed {
		problems = append(problems, fmt.Sprintf("no line %q", "PASS "+sc.name))
	}
	if len(problems) > 0 {
		t.Error(strings.Join(problems, "\n"))
	}
}
