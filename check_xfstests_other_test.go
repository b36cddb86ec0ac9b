//go:build !linux

package overlay

// ckBuilders are the layer kinds the fsck cases run on: in memory.
func ckBuilders() map[string]ckBuilder { return map[string]ckBuilder{"mem": memBuilder} }
