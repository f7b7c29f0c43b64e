package zk

import (
	"fmt"
	"slices"
	"testing"
)

// TestRestoreChanges: the changes between a tree and the snapshot that
// replaces it come out in an order watchers could have seen them in:
// children deleted before their parents, a deletion before the creation
// that reuses its path, everything in zxid order.
func TestRestoreChanges(t *testing.T) {
	base := func() *tree {
		tr := newTree()
		h1Create(t, tr, h1Ctx(1, 1), "/p", nil, FlagPersistent, nil)
		h1Create(t, tr, h1Ctx(2, 2), "/p/q", nil, FlagPersistent, nil)
		h1Create(t, tr, h1Ctx(3, 3), "/s", nil, FlagPersistent, nil)
		return tr
	}
	old, cur := base(), base()
	if err := cur.remove(h1Ctx(4, 4), "/p/q", -1, nil); err != nil {
		t.Fatal(err)
	}
	if err := cur.remove(h1Ctx(5, 5), "/p", -1, nil); err != nil {
		t.Fatal(err)
	}
	h1Create(t, cur, h1Ctx(6, 6), "/p", nil, FlagPersistent, nil)
	if _, err := cur.setData(h1Ctx(7, 7), "/s", []byte("x"), -1, nil); err != nil {
		t.Fatal(err)
	}
	h1Create(t, cur, h1Ctx(8, 8), "/n", nil, FlagPersistent, nil)

	var got []string
	for _, c := range restoreChanges(old, cur) {
		got = append(got, fmt.Sprintf("%d %v %s", c.zxid, c.typ, c.path))
	}
	want := []string{
		"6 EventNodeDeleted /p/q",
		"6 EventNodeDeleted /p",
		"6 EventNodeCreated /p",
		"7 EventNodeDataChanged /s",
		"8 EventNodeCreated /n",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("changes:\n%v\nwant\n%v", got, want)
	}
	if len(restoreChanges(cur, cur)) != 0 {
		t.Fatal("a tree differs from itself")
	}
}
