package zk

import (
	"cmp"
	"slices"
)

// A node that falls far enough behind is brought up to date by a snapshot
// instead of the entries it missed, and its tree is replaced whole. Its
// sessions stay attached, and their watches must still hear of every
// change the snapshot brought, or a client waiting on a watch would wait
// for ever on a node that has moved on (a lagging follower serving
// in-process Conns and wire sessions alike). ZooKeeper's clients, whose
// server goes away when it syncs by snapshot, get the same from
// setWatches on reconnecting: one event per watched node that changed.
//
// restoreChanges compares the tree being replaced with the restored one
// and returns the changes between them as the watch manager takes them,
// each with the zxid it happened at where the new tree knows it: nodes
// deleted (deepest first, at the zxid of their parent's last child
// change), nodes created (parents first, at their czxid), data changed
// (at mzxid), all in zxid order so that watchers see events in order. A
// node deleted and created again is both. The nodes' children events
// follow from their creations and deletions, as on apply.
func restoreChanges(old, cur *tree) []loggedChange {
	var out []loggedChange
	for p, on := range old.nodes {
		if nn, ok := cur.nodes[p]; ok && nn.czxid == on.czxid {
			if nn.mzxid != on.mzxid {
				out = append(out, loggedChange{nn.mzxid, change{typ: EventNodeDataChanged, path: p, acl: nn.acl.acl}})
			}
			continue
		}
		// Deleted, perhaps created again. The new tree has no trace of
		// when: the parent's last child change is the latest it can be,
		// and the parent, if deleted too, took the child with it.
		z := cur.lastZxidBelow(p)
		if nn, ok := cur.nodes[p]; ok {
			z = min(z, nn.czxid) // before it was created again
		}
		out = append(out, loggedChange{z, change{typ: EventNodeDeleted, path: p, acl: on.acl.acl, pacl: parentACL(old, p)}})
	}
	for p, nn := range cur.nodes {
		if on, ok := old.nodes[p]; ok && on.czxid == nn.czxid {
			continue
		}
		out = append(out, loggedChange{nn.czxid, change{typ: EventNodeCreated, path: p, acl: nn.acl.acl, pacl: parentACL(cur, p)}})
	}
	slices.SortStableFunc(out, func(a, b loggedChange) int {
		if c := cmp.Compare(a.zxid, b.zxid); c != 0 {
			return c
		}
		// At one zxid (a multi, or deletions dated alike): deletions
		// first and deepest first, then creations parents first.
		da, db := a.typ == EventNodeDeleted, b.typ == EventNodeDeleted
		switch {
		case da && !db:
			return -1
		case db && !da:
			return 1
		case da:
			return cmp.Compare(len(b.path), len(a.path))
		}
		return cmp.Compare(len(a.path), len(b.path))
	})
	return out
}

// lastZxidBelow returns the pzxid of the nearest ancestor of path that
// exists in t: the latest zxid at which path can have been deleted.
func (t *tree) lastZxidBelow(path string) int64 {
	for p := path; p != "/"; {
		p, _ = splitPath(p)
		if n, ok := t.nodes[p]; ok {
			return n.pzxid
		}
	}
	return 0
}

// parentACL returns the ACL of path's parent in t, nil for the root.
func parentACL(t *tree, path string) []ACL {
	if path == "/" {
		return nil
	}
	parent, _ := splitPath(path)
	if n, ok := t.nodes[parent]; ok {
		return n.acl.acl
	}
	return nil
}
