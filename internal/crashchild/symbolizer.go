//go:build crashsym

package main

// With the tag crashsym: Go's crash traceback symbolizes C frames.
import _ "github.com/ianlancetaylor/cgosymbolizer"
