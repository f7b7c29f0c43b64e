package zoocfg

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// entry is one key=value pair of a properties file and the line it
// started on, kept so that errors can point at the line to fix.
type entry struct {
	key, value string
	line       int
}

// readProperties reads r with java.util.Properties.load's rules, since that
// is what ZooKeeper parses zoo.cfg with: `#` and `!` comment lines, `=`, `:`
// or whitespace between key and value, backslash escapes and backslash line
// continuation. The value keeps its trailing whitespace, as Java's does;
// callers trim like ZooKeeper does.
//
// Java accepts anything; a line that is a bare key with no separator and no
// value, or a value with no key, is rejected here, because in a zoo.cfg it
// is always a typo (Java would silently set a key to "").
func readProperties(r io.Reader) ([]entry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	var out []entry
	lineNo := 0
	for sc.Scan() {
		lineNo++
		start := lineNo
		raw := strings.TrimRight(sc.Text(), "\r")
		line := strings.TrimLeft(raw, " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		// A logical line goes on while a physical line ends in an odd
		// number of backslashes; the next line's indentation is dropped.
		for endsInContinuation(line) {
			line = line[:len(line)-1]
			if !sc.Scan() {
				break
			}
			lineNo++
			line += strings.TrimLeft(strings.TrimRight(sc.Text(), "\r"), " \t\f")
		}
		key, value, sep, err := splitProperty(line)
		if err != nil {
			return nil, lineErr(start, "%v in %q", err, raw)
		}
		if key == "" || (!sep && value == "") {
			return nil, lineErr(start, "malformed line %q: expected key=value", raw)
		}
		out = append(out, entry{key: key, value: value, line: start})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func endsInContinuation(s string) bool {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// splitProperty splits a logical line into its unescaped key and value.
// sep reports whether a `=` or `:` separated them.
func splitProperty(line string) (key, value string, sep bool, err error) {
	i := 0
	for i < len(line) {
		c := line[i]
		if c == '\\' {
			i += 2
			continue
		}
		if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
			break
		}
		i++
	}
	if i > len(line) {
		i = len(line)
	}
	rawKey := line[:i]
	rest := strings.TrimLeft(line[i:], " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		sep = true
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	if key, err = unescape(rawKey); err != nil {
		return "", "", false, err
	}
	if value, err = unescape(rest); err != nil {
		return "", "", false, err
	}
	return key, value, sep, nil
}

// unescape applies Java's properties escapes: \t \n \r \f, \uXXXX, and a
// backslash before any other character stands for that character (so a
// Windows path needs doubled backslashes, in ZooKeeper as here).
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+5 > len(s) {
				return "", errMalformedU
			}
			n, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
			if err != nil {
				return "", errMalformedU
			}
			b.WriteRune(rune(n))
			i += 4
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}

// constErr is an error that can be a constant.
type constErr string

// Error lets a constant string be an error value (errMalformedU).
func (e constErr) Error() string { return string(e) }

// errMalformedU is the one thing Java's Properties.load itself rejects.
const errMalformedU = constErr(`malformed \uxxxx encoding`)
