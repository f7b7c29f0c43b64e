package zk

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
)

// What the recipes share. Like the recipes, it uses only Conn's exported
// methods.

// recipeRetryPause is how long a recipe waits before trying again an
// operation whose outcome was lost.
const recipeRetryPause = 10 * time.Millisecond

// recipeUnknown reports whether err leaves the outcome of an operation
// unknown while ctx lives: the operation may be tried again.
func recipeUnknown(ctx context.Context, err error) bool {
	return errors.Is(err, ErrConnectionLoss) && ctx.Err() == nil
}

// recipePause waits recipeRetryPause, or until ctx ends.
func recipePause(ctx context.Context) error {
	t := time.NewTimer(recipeRetryPause)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// recipeRetry reports whether an operation that failed with err should be
// tried again, after a short pause: when err only means that the outcome
// was lost or that the Conn's node went away under it while the Conn
// lives on (WithFailover). It is false once ctx or the Conn has ended.
func recipeRetry(ctx context.Context, conn *Conn, err error) bool {
	if !errors.Is(err, ErrConnectionLoss) && !errors.Is(err, ErrClosing) {
		return false
	}
	t := time.NewTimer(recipeRetryPause)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return false
	case <-conn.Done():
		return false
	}
	select {
	case <-conn.Done():
		return false
	default:
		return ctx.Err() == nil
	}
}

// recipeEnsurePath creates path and its missing parents as persistent
// nodes with acl.
func recipeEnsurePath(ctx context.Context, conn *Conn, path string, acl []ACL) error {
	for i := 1; i <= len(path); i++ {
		if i < len(path) && path[i] != '/' {
			continue
		}
		_, err := conn.Create(ctx, path[:i], nil, FlagPersistent, acl)
		for recipeRetry(ctx, conn, err) {
			_, err = conn.Create(ctx, path[:i], nil, FlagPersistent, acl)
		}
		if err != nil && !errors.Is(err, ErrNodeExists) {
			return err
		}
	}
	return nil
}

// recipeOwned returns the names of dir's children that start with id (a
// caller's unique prefix), in the order of their ten-digit sequence
// suffixes.
func recipeOwned(ctx context.Context, conn *Conn, dir, id string) ([]string, error) {
	names, _, err := conn.Children(ctx, dir)
	if errors.Is(err, ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	mine := slices.DeleteFunc(names, func(n string) bool { return !strings.HasPrefix(n, id) || len(n) < len(id)+10 })
	slices.SortFunc(mine, func(a, b string) int { return strings.Compare(a[len(a)-10:], b[len(b)-10:]) })
	return mine, nil
}

// recipeCreate creates the ephemeral sequential node dir/prefix with
// data, and dir if missing, as Curator's protected mode does: when the
// outcome of the create is lost (ErrConnectionLoss) it finds the node
// again by id, the caller's unique prefix of prefix, keeps the first and
// deletes a late duplicate. It returns the node's name and Stat; on error,
// uncertain says whether a create may have happened.
func recipeCreate(ctx context.Context, conn *Conn, dir, prefix, id string, data []byte, acl []ACL) (name string, stat *Stat, uncertain bool, err error) {
	for {
		p, stat, err := conn.CreateStat(ctx, dir+"/"+prefix, data, FlagEphemeralSequential, acl)
		switch {
		case err == nil:
			return p[len(dir)+1:], stat, false, nil
		case errors.Is(err, ErrNoNode):
			if err := recipeEnsurePath(ctx, conn, dir, acl); err != nil {
				return "", nil, uncertain, err
			}
			continue
		case !recipeUnknown(ctx, err):
			return "", nil, uncertain || errors.Is(err, ErrConnectionLoss) || ctx.Err() != nil, err
		}
		uncertain = true
		if err := recipePause(ctx); err != nil {
			return "", nil, true, err
		}
		// The create may have happened: look for the node after Sync, so
		// that this node has applied it if it did.
		if err := conn.Sync(ctx, dir); err != nil {
			if recipeUnknown(ctx, err) {
				continue
			}
			return "", nil, true, err
		}
		mine, err := recipeOwned(ctx, conn, dir, id)
		if err != nil {
			if recipeUnknown(ctx, err) {
				continue
			}
			return "", nil, true, err
		}
		if len(mine) == 0 {
			uncertain = false // it did not happen: create again
			continue
		}
		// Keep the first; a second can only come from a retry that raced
		// an earlier create, and must go.
		for _, n := range mine[1:] {
			if err := conn.Delete(ctx, dir+"/"+n, AnyVersion); err != nil && !errors.Is(err, ErrNoNode) {
				return "", nil, true, err
			}
		}
		_, stat, err = conn.Get(ctx, dir+"/"+mine[0])
		if err != nil {
			if recipeUnknown(ctx, err) {
				continue
			}
			return "", nil, true, err
		}
		return mine[0], stat, false, nil
	}
}

// recipeRemoveOwned deletes, after a Sync, every child of dir that starts
// with id.
func recipeRemoveOwned(ctx context.Context, conn *Conn, dir, id string) error {
	if err := conn.Sync(ctx, dir); err != nil && !errors.Is(err, ErrNoNode) {
		return err
	}
	mine, err := recipeOwned(ctx, conn, dir, id)
	if err != nil {
		return err
	}
	for _, n := range mine {
		if err := conn.Delete(ctx, dir+"/"+n, AnyVersion); err != nil && !errors.Is(err, ErrNoNode) {
			return err
		}
	}
	return nil
}
