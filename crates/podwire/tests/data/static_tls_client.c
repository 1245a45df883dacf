/* A TLS client with OpenSSL linked in statically (libssl.a, libcrypto.a):
 * the program's own file defines SSL_read and SSL_write, and no libssl.so
 * is mapped. The TLS plaintext lab test builds it to check that the agent
 * finds such programs by their symbols.
 *
 *   static_tls_client HOST_IP PORT PATH [wait]
 *
 * With "wait", it reads one line from stdin before connecting (the test
 * lets it go once the agent has probed its file).
 * Sends one HTTP/1.1 GET over TLS (certificate not verified: a lab
 * certificate), reads the response until the peer closes, and prints the
 * status code and the client's local port ("200 43210").
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 4 && !(argc == 5 && strcmp(argv[4], "wait") == 0)) {
        fprintf(stderr, "usage: %s HOST_IP PORT PATH [wait]\n", argv[0]);
        return 2;
    }
    if (argc == 5) {
        char line[16];
        if (!fgets(line, sizeof line, stdin)) {
            return 2;
        }
    }
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
        fprintf(stderr, "bad address %s\n", argv[1]);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("connect");
        return 1;
    }
    struct sockaddr_in local;
    socklen_t local_len = sizeof local;
    getsockname(fd, (struct sockaddr *)&local, &local_len);

    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = ctx ? SSL_new(ctx) : NULL;
    if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: static-tls\r\n"
                     "Connection: close\r\n\r\n",
                     argv[3], argv[1]);
    if (n <= 0 || (size_t)n >= sizeof req || SSL_write(ssl, req, n) != n) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    char buf[16384];
    char head[13] = {0};
    size_t have = 0;
    int got;
    while ((got = SSL_read(ssl, buf, sizeof buf)) > 0) {
        for (int i = 0; i < got && have < 12; i++) {
            head[have++] = buf[i];
        }
    }
    SSL_shutdown(ssl);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    /* "HTTP/1.1 200" */
    if (have < 12 || strncmp(head, "HTTP/1.", 7) != 0) {
        fprintf(stderr, "no HTTP status line\n");
        return 1;
    }
    printf("%.3s %u\n", head + 9, (unsigned)ntohs(local.sin_port));
    return 0;
}
