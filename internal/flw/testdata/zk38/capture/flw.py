# ask(port, word): send a four-letter word to 127.0.0.1:port, read to EOF.
import socket, sys
def ask(port, word):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(word.encode())
    buf = b""
    while True:
        d = s.recv(65536)
        if not d: break
        buf += d
    s.close()
    return buf
if __name__ == "__main__":
    port = int(sys.argv[1])
    for w in sys.argv[2:]:
        sys.stdout.write("=== %s\n%r\n" % (w, ask(port, w)))
