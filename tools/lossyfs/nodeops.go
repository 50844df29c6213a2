package main

// The node's namespace operations, journaled (namespace.go) so that a drop can undo them, and its
// directory handles, whose fsync makes those operations durable.

import (
	"context"
	"path/filepath"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

func (n *node) child(name string) string { return filepath.Join(n.backingPath(), name) }

// forget returns what drops go-fuse's cached entries for these names once a drop changed them.
func forget(pairs ...any) func() {
	return func() {
		for i := 0; i+1 < len(pairs); i += 2 {
			pairs[i].(*fs.Inode).RmChild(pairs[i+1].(string))
		}
	}
}

// created journals the entry name made by a successful op (errno 0).
func (n *node) created(name string, errno syscall.Errno) syscall.Errno {
	if errno != 0 {
		return errno
	}
	return nsCreated(n.child(name), forget(n.EmbeddedInode(), name))
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	if enospc.Load() {
		return nil, nil, 0, syscall.ENOSPC
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	var st syscall.Stat_t
	existed := syscall.Lstat(n.child(name), &st) == nil // O_CREAT of an existing file creates no entry
	ch, fh, fl, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	if !existed {
		if errno := n.created(name, 0); errno != 0 {
			return nil, nil, 0, errno
		}
	}
	return ch, &file{LoopbackFile: fh.(*fs.LoopbackFile)}, fl | fuse.FOPEN_DIRECT_IO, 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if enospc.Load() {
		return nil, syscall.ENOSPC
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	ch, errno := n.LoopbackNode.Mkdir(ctx, name, mode, out)
	return ch, n.created(name, errno)
}

func (n *node) Mknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	j.mu.Lock()
	defer j.mu.Unlock()
	ch, errno := n.LoopbackNode.Mknod(ctx, name, mode, rdev, out)
	return ch, n.created(name, errno)
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	j.mu.Lock()
	defer j.mu.Unlock()
	ch, errno := n.LoopbackNode.Symlink(ctx, target, name, out)
	return ch, n.created(name, errno)
}

func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	j.mu.Lock()
	defer j.mu.Unlock()
	ch, errno := n.LoopbackNode.Link(ctx, target, name, out)
	return ch, n.created(name, errno)
}

func (n *node) Unlink(_ context.Context, name string) syscall.Errno {
	j.mu.Lock()
	defer j.mu.Unlock()
	return nsUnlink(n.child(name), forget(n.EmbeddedInode(), name))
}

func (n *node) Rmdir(_ context.Context, name string) syscall.Errno {
	j.mu.Lock()
	defer j.mu.Unlock()
	return nsRmdir(n.child(name), forget(n.EmbeddedInode(), name))
}

func (n *node) Rename(_ context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return nsRename(n.child(name), np.child(newName), flags,
		forget(n.EmbeddedInode(), name, np.EmbeddedInode(), newName))
}

// OpendirHandle wraps the loopback's directory stream so that its fsync is seen.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	ino, errno := dirIno(n.backingPath())
	if errno != 0 {
		return nil, 0, errno
	}
	fh, fl, errno := n.LoopbackNode.OpendirHandle(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	return &dirHandle{ds: fh, ino: ino}, fl, 0
}

type dirHandle struct {
	ds  fs.FileHandle
	ino uint64 // the backing directory's inode number
}

func (d *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	if eio.Load() {
		return syscall.EIO
	}
	if errno := d.ds.(fs.FileFsyncdirer).Fsyncdir(ctx, flags); errno != 0 {
		return errno
	}
	j.mu.Lock()
	dirSynced(d.ino)
	j.mu.Unlock()
	return 0
}

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	return d.ds.(fs.FileReaddirenter).Readdirent(ctx)
}

func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	return d.ds.(fs.FileSeekdirer).Seekdir(ctx, off)
}

func (d *dirHandle) Releasedir(ctx context.Context, flags uint32) {
	d.ds.(fs.FileReleasedirer).Releasedir(ctx, flags)
}
