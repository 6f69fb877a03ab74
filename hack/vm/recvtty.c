/* A console socket receiver for the VM lanes: recvtty SOCKET OUTFILE listens on SOCKET, takes
 * the pty master of one connection (SCM_RIGHTS), and copies what the container writes on its
 * terminal to OUTFILE until the pty hangs up. Built static on the host (the guest has no
 * compiler): cc -static -O2 -o target/recvtty hack/vm/recvtty.c */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: recvtty SOCKET OUTFILE\n");
		return 2;
	}
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strncpy(sa.sun_path, argv[1], sizeof(sa.sun_path) - 1);
	unlink(argv[1]);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0) {
		perror("recvtty: listen");
		return 1;
	}
	int c = accept(l, NULL, NULL);
	if (c < 0) {
		perror("recvtty: accept");
		return 1;
	}
	char name[256], cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { name, sizeof(name) - 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	ssize_t n = recvmsg(c, &m, 0);
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);
	if (n < 0 || !h || h->cmsg_type != SCM_RIGHTS) {
		fprintf(stderr, "recvtty: no fd received\n");
		return 1;
	}
	int master;
	memcpy(&master, CMSG_DATA(h), sizeof(int));
	close(c);
	close(l);
	unlink(argv[1]);
	int out = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (out < 0) {
		perror("recvtty: open");
		return 1;
	}
	char buf[4096];
	while ((n = read(master, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			return 1;
	return 0;
}
