package zk

import (
	"context"
	"errors"
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
