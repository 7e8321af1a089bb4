package httpd

import (
	"bytes"
	"fmt"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ccoro/coro"
)

// webTypes are the types every web site needs right, by extension:
// browsers refuse an SVG in <img>, a module script, a font or a wasm
// module with another type.
var webTypes = map[string]string{
	"html": "text/html", "htm": "text/html", "css": "text/css",
	"js": "text/javascript", "mjs": "text/javascript", "json": "application/json",
	"map": "application/json", "xml": "text/xml", "txt": "text/plain", "csv": "text/csv",
	"md": "text/markdown", "svg": "image/svg+xml", "ico": "image/x-icon", "gif": "image/gif",
	"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp",
	"avif": "image/avif", "apng": "image/apng", "bmp": "image/bmp", "tiff": "image/tiff",
	"pdf": "application/pdf", "wasm": "application/wasm", "woff": "font/woff",
	"woff2": "font/woff2", "ttf": "font/ttf", "otf": "font/otf", "eot": "application/vnd.ms-fontobject",
	"mp4": "video/mp4", "webm": "video/webm", "ogv": "video/ogg", "mp3": "audio/mpeg",
	"ogg": "audio/ogg", "opus": "audio/ogg", "m4a": "audio/mp4", "wav": "audio/wav",
	"flac": "audio/flac", "vtt": "text/vtt", "webmanifest": "application/manifest+json",
	"jsonld": "application/ld+json", "rss": "application/rss+xml", "atom": "application/atom+xml",
	"xhtml": "application/xhtml+xml", "zip": "application/zip", "gz": "application/gzip",
	"tar": "application/x-tar", "m3u8": "application/vnd.apple.mpegurl", "mpd": "application/dash+xml",
	"ics": "text/calendar", "epub": "application/epub+zip", "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}

func TestMimeBuiltin(t *testing.T) {
	es := mimeEntries(nil)
	if len(es) < 100 {
		t.Errorf("%d built-in types, want the whole table", len(es))
	}
	for i, e := range es {
		if i > 0 && es[i-1][0] >= e[0] {
			t.Errorf("built-in table: %q before %q: not sorted or not unique", es[i-1][0], e[0])
		}
		if e[0] != strings.ToLower(e[0]) {
			t.Errorf("built-in table: %q is not lower case", e[0])
		}
		// Each entry parses as a mime.types line and is found.
		if tab, line, err := parseMIMETypes([]byte(e[1] + " " + e[0] + "\n")); err != nil {
			t.Errorf("built-in %v: line %d: %v", e, line, err)
		} else {
			freeMIMETypes(tab)
		}
		if got := mimeLookup(nil, "/a/b."+e[0]); got != e[1] {
			t.Errorf("lookup .%s: %q, want %q", e[0], got, e[1])
		}
	}
	for ext, want := range webTypes {
		for _, name := range []string{"f." + ext, "/dir.x/F." + strings.ToUpper(ext), "jquery.min." + ext} {
			if got := mimeLookup(nil, name); got != want {
				t.Errorf("lookup %s: %q, want %q", name, got, want)
			}
		}
	}
	for _, name := range []string{"README", "f.", "/a.b/c", ".html", "f.unknownext", "f." + strings.Repeat("x", 40) + ".",
		"/"} {
		if got := mimeLookup(nil, name); got != "" {
			t.Errorf("lookup %q: %q, want none", name, got)
		}
	}
	for ty, want := range map[string]bool{
		"text/html": true, "text/plain": true, "text/javascript": true, "application/javascript": true,
		"image/svg+xml": true, "application/xml": true, "application/rss+xml": true,
		"application/json": false, "image/png": false, "text/html;charset=iso-8859-1": false,
	} {
		if got := mimeWantsCharset(ty); got != want {
			t.Errorf("wants charset %q: %v, want %v", ty, got, want)
		}
	}
}

func TestMimeParse(t *testing.T) {
	for _, tc := range []struct {
		text string
		line int               // the line at fault, 0 for none
		want map[string]string // lookups of the table alone
	}{
		{"", 0, map[string]string{"a.svg": ""}},
		{"# comment only\n\n   \n", 0, nil},
		{"image/svg+xml\tsvg svgz\r\ntext/x-foo foo # Foo\n", 0,
			map[string]string{"a.svg": "image/svg+xml", "a.SVGZ": "image/svg+xml", "a.foo": "text/x-foo", "a.#": ""}},
		{"application/x-empty\n", 0, map[string]string{"a.empty": ""}},
		{"a/b x\nc/d X\n", 0, map[string]string{"f.x": "c/d"}}, // the later line wins
		{"a/b x y\nc/d z\na/e y\n", 0, map[string]string{"f.y": "a/e", "f.x": "a/b", "f.z": "c/d"}},
		{"application/gzip tar.gz\napplication/x-tar tar", 0,
			map[string]string{"a.tar.gz": "application/gzip", "a.tar": "application/x-tar", "a.b.tar": "application/x-tar", "a.gz": ""}},
		{"text/html;charset=iso-8859-1 lat1", 0, map[string]string{"p.lat1": "text/html;charset=iso-8859-1"}},
		{"types {\n", 1, nil},         // nginx's format is not this one
		{"text/html html;\n", 1, nil}, // nor its ';'
		{"ok/type a\nnoslash b\n", 2, nil},
		{"a/ b\n", 1, nil},
		{"/b c\n", 1, nil},
		{"a/b .c\n", 1, nil},
		{"a/b c.\n", 1, nil},
		{"a/b c/d\n", 1, nil},
		{"a/b\x01 c\n", 1, nil},
		{"a/b;x=\x7f c\n", 1, nil},
		{"a/b c\x80\n", 1, nil},
		{"\n\na/b " + strings.Repeat("c", 33) + "\n", 3, nil},
		{"a/" + strings.Repeat("b", 126) + " c\n", 1, nil},
		{"a/b c\x00d\n", 1, nil},
	} {
		tab, line, err := parseMIMETypes([]byte(tc.text))
		if tc.line > 0 {
			if err == nil || line != tc.line {
				t.Errorf("%q: line %d, %v; want an error on line %d", tc.text, line, err, tc.line)
			}
			if tab != nil {
				freeMIMETypes(tab)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: line %d: %v", tc.text, line, err)
			continue
		}
		for path, want := range tc.want {
			// The table alone: a lookup that falls back to the built-in
			// one must not find its type here.
			got := mimeLookup(tab, path)
			if want == "" && got != "" && got == mimeLookup(nil, path) {
				got = ""
			}
			if got != want {
				t.Errorf("%q: lookup %s: %q, want %q", tc.text, path, got, want)
			}
		}
		es := mimeEntries(tab)
		if !slices.IsSortedFunc(es, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) }) {
			t.Errorf("%q: entries not sorted: %v", tc.text, es)
		}
		freeMIMETypes(tab)
	}
	// Debian's whole file parses, and agrees with the built-in table on
	// the web's types (it has the older names of a few).
	text, err := os.ReadFile("/etc/mime.types")
	if err != nil {
		t.Skipf("no /etc/mime.types here: %v", err)
	}
	tab, line, err := parseMIMETypes(text)
	if err != nil {
		t.Fatalf("/etc/mime.types line %d: %v", line, err)
	}
	defer freeMIMETypes(tab)
	if n := len(mimeEntries(tab)); n < 1000 {
		t.Errorf("/etc/mime.types: %d extensions", n)
	}
	for _, ext := range []string{"svg", "png", "pdf", "wasm", "woff2", "webm", "css", "html"} {
		if got := mimeLookup(tab, "f."+ext); got != webTypes[ext] {
			t.Errorf("/etc/mime.types: .%s is %q, want %q", ext, got, webTypes[ext])
		}
	}
}

// typesSite writes one file per web type, and one per type of the user's
// file, and the user's file (outside the root).
func typesSite(t *testing.T) (root, mimeFile string) {
	root = t.TempDir()
	for ext := range webTypes {
		if err := os.WriteFile(filepath.Join(root, "f."+ext), []byte(ext), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"f.custom", "f.SVG", "f.unknownext", "app.min.js", "f.lat1"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mimeFile = filepath.Join(t.TempDir(), "mime.types")
	err := os.WriteFile(mimeFile, []byte("# the user's additions\ntext/x-custom custom\n"+
		"image/x-override svg\ntext/html;charset=iso-8859-1 lat1\n"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return root, mimeFile
}

// withCharset is the Content-Type the server sends for type with the
// default charset.
func withCharset(ty string) string {
	if mimeWantsCharset(ty) {
		return ty + "; charset=utf-8"
	}
	return ty
}

// TestTypes checks the Content-Type of every common web type and of the
// user's additions and overrides, with Go's client and curl, in both
// stack modes.
func TestTypes(t *testing.T) {
	root, mimeFile := typesSite(t)
	want := map[string]string{
		"/f.custom": "text/x-custom; charset=utf-8", "/f.svg": "image/x-override",
		"/f.SVG": "image/x-override", "/f.unknownext": "application/octet-stream",
		"/app.min.js": "text/javascript; charset=utf-8", "/f.lat1": "text/html;charset=iso-8859-1",
	}
	for ext, ty := range webTypes {
		if ext != "svg" {
			want["/f."+ext] = withCharset(ty)
		}
	}
	var paths []string
	for p := range want {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, stack := range []coro.StackMode{coro.StackGuarded, coro.StackShared} {
		t.Run(stack.String(), func(t *testing.T) {
			s := start(t, Config{Root: root, Stack: stack, MIMETypes: mimeFile})
			client := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
			defer client.CloseIdleConnections()
			for _, p := range paths {
				resp, _ := get(t, client, "http://"+s.Addr()+p)
				if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != want[p] {
					t.Errorf("Go client: GET %s: %d %q, want 200 %q", p, resp.StatusCode, ct, want[p])
				}
			}
			c := &curlRun{bin: curlBin(t), base: "http://" + s.Addr(), dir: t.TempDir()}
			args := []string{"-w", "%{http_code} %{content_type}\\n"}
			for _, p := range paths {
				args = append(args, "-o", os.DevNull, c.url(p))
			}
			out := c.run(t, args...)
			lines := strings.Split(strings.TrimSuffix(out.stdout, "\n"), "\n")
			if len(lines) != len(paths) {
				t.Fatalf("curl: %d lines for %d URLs: %q %q", len(lines), len(paths), out.stdout, out.stderr)
			}
			for i, p := range paths {
				if w := fmt.Sprint("200 ", want[p]); lines[i] != w {
					t.Errorf("curl: GET %s: %q, want %q", p, lines[i], w)
				}
			}
		})
	}
}

func TestMIMETypesStartErrors(t *testing.T) {
	root := t.TempDir()
	bad := filepath.Join(t.TempDir(), "bad.types")
	os.WriteFile(bad, []byte("text/plain txt\nnot-a-type x\n"), 0o644)
	for _, cfg := range []Config{
		{Root: root, MIMETypes: filepath.Join(root, "missing")},
		{Root: root, MIMETypes: bad},
		{Root: root, Charset: "utf-8\r\nX-Evil: 1"},
		{Root: root, Charset: strings.Repeat("a", 41)},
	} {
		cfg.Addr = "127.0.0.1:0"
		s, err := Start(cfg)
		if err == nil {
			s.Close()
			t.Errorf("%+v: started", cfg)
			continue
		}
		if cfg.MIMETypes == bad && !strings.Contains(err.Error(), "bad.types:2:") {
			t.Errorf("bad file: %v, want the line named", err)
		}
	}
}

// pageText decodes an HTML page as a browser picks its encoding (the
// HTML standard's encoding sniffing, reduced to what the test pages
// need): the Content-Type's charset wins, then the page's <meta charset>,
// then windows-1252 (here Latin-1, the same for the bytes used).
func pageText(t *testing.T, contentType string, body []byte) string {
	t.Helper()
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		t.Fatalf("Content-Type %q: %v", contentType, err)
	}
	cs := params["charset"]
	if cs == "" {
		if m := regexp.MustCompile(`<meta charset="([^"]+)">`).FindSubmatch(body); m != nil {
			cs = string(m[1])
		}
	}
	switch strings.ToLower(cs) {
	case "utf-8":
		if !utf8.Valid(body) {
			return strings.ToValidUTF8(string(body), "\uFFFD")
		}
		return string(body)
	case "iso-8859-1", "":
		r := make([]rune, len(body))
		for i, b := range body {
			r[i] = rune(b)
		}
		return string(r)
	}
	t.Fatalf("charset %q", cs)
	return ""
}

// TestCharset serves a UTF-8 page and a Latin-1 page, each declaring its
// encoding in <meta charset>, with the default charset (utf-8), with
// none, and with the Latin-1 one, to Go's client and curl in both stack
// modes: the page reads right where the header agrees with it or is
// absent, and the Latin-1 one is garbled under the default, which is why
// -charset none exists.
func TestCharset(t *testing.T) {
	root := t.TempDir()
	pages := map[string][]byte{
		"/utf8.html":   []byte("<!doctype html><meta charset=\"utf-8\"><p>caf\xc3\xa9</p>\n"),
		"/latin1.html": []byte("<!doctype html><meta charset=\"iso-8859-1\"><p>caf\xe9</p>\n"),
		"/notes.txt":   []byte("caf\xc3\xa9\n"),
		"/data.json":   []byte(`{"a": "caf` + "\xc3\xa9" + `"}`),
	}
	for p, b := range pages {
		if err := os.WriteFile(filepath.Join(root, p), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		charset string
		types   map[string]string // Content-Type by path
		good    map[string]bool   // whether the page reads "café"
	}{
		{"", map[string]string{"/utf8.html": "text/html; charset=utf-8", "/latin1.html": "text/html; charset=utf-8",
			"/notes.txt": "text/plain; charset=utf-8", "/data.json": "application/json"},
			map[string]bool{"/utf8.html": true, "/latin1.html": false}},
		{"none", map[string]string{"/utf8.html": "text/html", "/latin1.html": "text/html",
			"/notes.txt": "text/plain", "/data.json": "application/json"},
			map[string]bool{"/utf8.html": true, "/latin1.html": true}},
		{"ISO-8859-1", map[string]string{"/utf8.html": "text/html; charset=ISO-8859-1", "/latin1.html": "text/html; charset=ISO-8859-1",
			"/notes.txt": "text/plain; charset=ISO-8859-1", "/data.json": "application/json"},
			map[string]bool{"/utf8.html": false, "/latin1.html": true}},
	} {
		for _, stack := range []coro.StackMode{coro.StackGuarded, coro.StackShared} {
			t.Run(fmt.Sprintf("%s/charset=%q", stack, tc.charset), func(t *testing.T) {
				s := start(t, Config{Root: root, Stack: stack, Charset: tc.charset})
				client := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
				defer client.CloseIdleConnections()
				c := &curlRun{bin: curlBin(t), base: "http://" + s.Addr(), dir: t.TempDir()}
				for p, want := range tc.types {
					resp, body := get(t, client, "http://"+s.Addr()+p)
					ct := resp.Header.Get("Content-Type")
					if resp.StatusCode != 200 || ct != want || !bytes.Equal(body, pages[p]) {
						t.Errorf("Go client: GET %s: %d %q %q, want 200 %q and the file", p, resp.StatusCode, ct, body, want)
					}
					out := c.run(t, "-w", "%{content_type}", "-o", c.file("page"), c.url(p))
					if out.stdout != want || !bytes.Equal(c.read(t, "page"), pages[p]) {
						t.Errorf("curl: GET %s: %q %q, want %q and the file", p, out.stdout, c.read(t, "page"), want)
					}
					if good, ok := tc.good[p]; ok {
						if got := strings.Contains(pageText(t, ct, body), "café"); got != good {
							t.Errorf("GET %s with %q: reads café %v, want %v", p, ct, got, good)
						}
					}
				}
			})
		}
	}
}
