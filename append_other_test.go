//go:build !linux

package overlay_test

func appendUppersOS() []appendUpper { return nil }
