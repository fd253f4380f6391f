/*
 * Finding and asking the coordinator leader (see cli_coord.h).
 */
#include "cli_coord.h"

#include "eddy/alloc.h"
#include "eddy/assert.h"
#include "eddy/errors.h"
#include "eddy/rpc.h"
#include "eddy/rpc_status.h"

#include <stdbool.h>
#include <string.h>

struct cli_coord_addr {
    char address[CLI_COORD_ADDR_LEN_MAX];
    uint32_t node; /* 0 until a catalogue names it */
    struct rpc_client *client;
};

struct cli_coord {
    uv_loop_t *loop;
    struct cli_coord_addr addrs[CLI_COORD_ADDRS_MAX];
    unsigned count;
    unsigned listed; /* addrs[0..listed) came from the user */
    unsigned at;     /* the address asked next */
    int answered;    /* index that answered last, -1 none */
    /* the call in progress */
    Eddy__Frame *req;
    uint32_t timeout_ms;
    unsigned attempts;
    cli_coord_cb cb;
    void *arg;
    unsigned closes_pending;
    void (*close_cb)(void *arg);
    void *close_arg;
};

/* Index of address, added with its RPC client if new, room is left and the
 * address parses; -1 otherwise. */
static int cli_coord_add(struct cli_coord *cc, const char *address, uint32_t node)
{
    for (unsigned i = 0; i < cc->count; i++) {
        if (strcmp(cc->addrs[i].address, address) == 0) {
            if (node != 0) {
                cc->addrs[i].node = node;
            }
            return (int)i;
        }
    }
    size_t len = strlen(address);
    if (cc->count == CLI_COORD_ADDRS_MAX || len == 0 || len >= CLI_COORD_ADDR_LEN_MAX) {
        return -1;
    }
    struct cli_coord_addr *a = &cc->addrs[cc->count];
    if (rpc_client_init(&a->client, cc->loop, address) != 0) {
        a->client = NULL;
        return -1;
    }
    memcpy(a->address, address, len + 1);
    a->node = node;
    return (int)cc->count++;
}

int cli_coord_init(struct cli_coord **out, uv_loop_t *loop, const char *list)
{
    struct cli_coord *cc = eddy_xcalloc(1, sizeof(*cc));
    cc->loop = loop;
    cc->answered = -1;
    const char *p = list;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        char one[CLI_COORD_ADDR_LEN_MAX];
        if (len == 0 || len >= sizeof(one)) {
            cli_coord_close(cc, NULL, NULL);
            return -EDDY_EINVAL;
        }
        memcpy(one, p, len);
        one[len] = '\0';
        if (cli_coord_add(cc, one, 0) < 0) {
            cli_coord_close(cc, NULL, NULL);
            return -EDDY_EINVAL;
        }
        p += len + (end != NULL ? 1 : 0);
    }
    if (cc->count == 0) {
        cli_coord_close(cc, NULL, NULL);
        return -EDDY_EINVAL;
    }
    cc->listed = cc->count;
    *out = cc;
    return 0;
}

const char *cli_coord_address(const struct cli_coord *cc)
{
    return cc->answered >= 0 ? cc->addrs[cc->answered].address : "";
}

/* Learns node addresses from a catalogue carried by resp, if any. */
static void cli_coord_learn(struct cli_coord *cc, const Eddy__Frame *resp)
{
    const Eddy__Catalog *cat = NULL;
    if (resp->body_case == EDDY__FRAME__BODY_CLUSTER_STATUS_RESP) {
        cat = resp->cluster_status_resp->catalog;
    } else if (resp->body_case == EDDY__FRAME__BODY_CATALOG) {
        cat = resp->catalog->catalog;
    }
    for (size_t i = 0; cat != NULL && i < cat->n_nodes; i++) {
        if (cat->nodes[i]->rpc_address != NULL) {
            cli_coord_add(cc, cat->nodes[i]->rpc_address, cat->nodes[i]->id);
        }
    }
}

static int cli_coord_index_of_node(const struct cli_coord *cc, uint32_t node)
{
    for (unsigned i = 0; node != 0 && i < cc->count; i++) {
        if (cc->addrs[i].node == node) {
            return (int)i;
        }
    }
    return -1;
}

static void cli_coord_send(struct cli_coord *cc);

static void cli_coord_finish(struct cli_coord *cc, int status, const Eddy__Frame *resp)
{
    cli_coord_cb cb = cc->cb;
    void *arg = cc->arg;
    cc->cb = NULL;
    cc->req = NULL;
    cb(arg, status, resp);
}

static void cli_coord_on_reply(void *arg, int status, const Eddy__Frame *resp)
{
    struct cli_coord *cc = arg;
    int code = status;
    uint32_t hint = 0;
    if (status == 0) {
        const Eddy__Status *st = rpc_frame_status(resp);
        code = st != NULL ? st->code : 0;
        hint = st != NULL ? st->leader_node : 0;
        cli_coord_learn(cc, resp);
    }
    if (code == 0) {
        cc->answered = (int)cc->at;
        cli_coord_finish(cc, 0, resp);
        return;
    }
    int next = code == -EDDY_ENOTLEADER ? cli_coord_index_of_node(cc, hint) : -1;
    cc->at = next >= 0 && (unsigned)next != cc->at ? (unsigned)next : (cc->at + 1) % cc->count;
    if (code == -EDDY_ESHUTDOWN || cc->attempts >= 2 * cc->count + 2) {
        cli_coord_finish(cc, code, NULL);
        return;
    }
    cli_coord_send(cc);
}

static void cli_coord_send(struct cli_coord *cc)
{
    struct cli_coord_addr *a = &cc->addrs[cc->at];
    EDDY_ASSERT(a->client != NULL);
    cc->attempts++;
    rpc_client_call(a->client, cc->req, cc->timeout_ms, cli_coord_on_reply, cc);
}

void cli_coord_call(
    struct cli_coord *cc, Eddy__Frame *req, uint32_t timeout_ms, cli_coord_cb cb, void *arg)
{
    EDDY_ASSERT(cc->cb == NULL);
    cc->req = req;
    cc->timeout_ms = timeout_ms;
    cc->cb = cb;
    cc->arg = arg;
    cc->attempts = 0;
    if (cc->answered >= 0) {
        cc->at = (unsigned)cc->answered; /* the leader of last time first */
    }
    cli_coord_send(cc);
}

static void cli_coord_on_closed(void *arg)
{
    struct cli_coord *cc = arg;
    EDDY_ASSERT(cc->closes_pending > 0);
    if (--cc->closes_pending > 0) {
        return;
    }
    void (*cb)(void *) = cc->close_cb;
    void *cb_arg = cc->close_arg;
    eddy_free(cc);
    if (cb != NULL) {
        cb(cb_arg);
    }
}

void cli_coord_close(struct cli_coord *cc, void (*cb)(void *arg), void *arg)
{
    cc->close_cb = cb;
    cc->close_arg = arg;
    cc->closes_pending = 1; /* held until every client was asked to close */
    for (unsigned i = 0; i < cc->count; i++) {
        if (cc->addrs[i].client != NULL) {
            cc->closes_pending++;
            rpc_client_close(cc->addrs[i].client, cli_coord_on_closed, cc);
            cc->addrs[i].client = NULL;
        }
    }
    cli_coord_on_closed(cc);
}
