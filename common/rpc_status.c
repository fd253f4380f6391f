/* Error replies whose shape follows the request type. */
#include "eddy/rpc_status.h"
#include "eddy/assert.h"

void rpc_reply_error(struct rpc_call *call, int code, uint64_t leader_node, const char *message)
{
    EDDY_ASSERT(code < 0);
    Eddy__Status st = EDDY__STATUS__INIT;
    st.code = code;
    st.leader_node = (uint32_t)leader_node;
    st.message = (char *)(message != NULL ? message : "");
    Eddy__Frame resp = EDDY__FRAME__INIT;
    Eddy__Ack ack = EDDY__ACK__INIT;
    Eddy__GetCatalogResp cat = EDDY__GET_CATALOG_RESP__INIT;
    Eddy__PutRecordsResp put = EDDY__PUT_RECORDS_RESP__INIT;
    Eddy__ReadResp read = EDDY__READ_RESP__INIT;
    Eddy__NodeStatusResp ns = EDDY__NODE_STATUS_RESP__INIT;
    Eddy__FetchSegmentResp fs = EDDY__FETCH_SEGMENT_RESP__INIT;
    Eddy__ClusterStatusResp cs = EDDY__CLUSTER_STATUS_RESP__INIT;
    Eddy__UpdateStreamResp us = EDDY__UPDATE_STREAM_RESP__INIT;
    Eddy__UpdateAccountResp ua = EDDY__UPDATE_ACCOUNT_RESP__INIT;
    Eddy__ReshardResp rs = EDDY__RESHARD_RESP__INIT;
    Eddy__CloseShardsResp cl = EDDY__CLOSE_SHARDS_RESP__INIT;
    Eddy__ConsumerResp co = EDDY__CONSUMER_RESP__INIT;
    switch (rpc_call_request(call)->body_case) {
    case EDDY__FRAME__BODY_GET_CATALOG:
        cat.status = &st;
        resp.body_case = EDDY__FRAME__BODY_CATALOG;
        resp.catalog = &cat;
        break;
    case EDDY__FRAME__BODY_PUT_RECORDS:
        put.status = &st;
        resp.body_case = EDDY__FRAME__BODY_PUT_RECORDS_RESP;
        resp.put_records_resp = &put;
        break;
    case EDDY__FRAME__BODY_READ:
        read.status = &st;
        resp.body_case = EDDY__FRAME__BODY_READ_RESP;
        resp.read_resp = &read;
        break;
    case EDDY__FRAME__BODY_NODE_STATUS:
        ns.status = &st;
        resp.body_case = EDDY__FRAME__BODY_NODE_STATUS_RESP;
        resp.node_status_resp = &ns;
        break;
    case EDDY__FRAME__BODY_FETCH_SEGMENT:
        fs.status = &st;
        resp.body_case = EDDY__FRAME__BODY_FETCH_SEGMENT_RESP;
        resp.fetch_segment_resp = &fs;
        break;
    case EDDY__FRAME__BODY_CLUSTER_STATUS:
        cs.status = &st;
        resp.body_case = EDDY__FRAME__BODY_CLUSTER_STATUS_RESP;
        resp.cluster_status_resp = &cs;
        break;
    case EDDY__FRAME__BODY_UPDATE_STREAM:
        us.status = &st;
        resp.body_case = EDDY__FRAME__BODY_UPDATE_STREAM_RESP;
        resp.update_stream_resp = &us;
        break;
    case EDDY__FRAME__BODY_UPDATE_ACCOUNT:
        ua.status = &st;
        resp.body_case = EDDY__FRAME__BODY_UPDATE_ACCOUNT_RESP;
        resp.update_account_resp = &ua;
        break;
    case EDDY__FRAME__BODY_RESHARD:
        rs.status = &st;
        resp.body_case = EDDY__FRAME__BODY_RESHARD_RESP;
        resp.reshard_resp = &rs;
        break;
    case EDDY__FRAME__BODY_CLOSE_SHARDS:
        cl.status = &st;
        resp.body_case = EDDY__FRAME__BODY_CLOSE_SHARDS_RESP;
        resp.close_shards_resp = &cl;
        break;
    case EDDY__FRAME__BODY_CONSUMER:
        co.status = &st;
        resp.body_case = EDDY__FRAME__BODY_CONSUMER_RESP;
        resp.consumer_resp = &co;
        break;
    default:
        ack.status = &st;
        resp.body_case = EDDY__FRAME__BODY_ACK;
        resp.ack = &ack;
        break;
    }
    rpc_call_reply(call, &resp);
}

void rpc_reply_ok(struct rpc_call *call)
{
    Eddy__Status st = EDDY__STATUS__INIT;
    Eddy__Ack ack = EDDY__ACK__INIT;
    ack.status = &st;
    Eddy__Frame resp = EDDY__FRAME__INIT;
    resp.body_case = EDDY__FRAME__BODY_ACK;
    resp.ack = &ack;
    rpc_call_reply(call, &resp);
}

const Eddy__Status *rpc_frame_status(const Eddy__Frame *f)
{
    switch (f->body_case) {
    case EDDY__FRAME__BODY_ACK:
        return f->ack->status;
    case EDDY__FRAME__BODY_CATALOG:
        return f->catalog->status;
    case EDDY__FRAME__BODY_PUT_RECORDS_RESP:
        return f->put_records_resp->status;
    case EDDY__FRAME__BODY_READ_RESP:
        return f->read_resp->status;
    case EDDY__FRAME__BODY_NODE_STATUS_RESP:
        return f->node_status_resp->status;
    case EDDY__FRAME__BODY_FETCH_SEGMENT_RESP:
        return f->fetch_segment_resp->status;
    case EDDY__FRAME__BODY_CLUSTER_STATUS_RESP:
        return f->cluster_status_resp->status;
    case EDDY__FRAME__BODY_UPDATE_STREAM_RESP:
        return f->update_stream_resp->status;
    case EDDY__FRAME__BODY_UPDATE_ACCOUNT_RESP:
        return f->update_account_resp->status;
    case EDDY__FRAME__BODY_RESHARD_RESP:
        return f->reshard_resp->status;
    case EDDY__FRAME__BODY_CLOSE_SHARDS_RESP:
        return f->close_shards_resp->status;
    case EDDY__FRAME__BODY_CONSUMER_RESP:
        return f->consumer_resp->status;
    default:
        return NULL;
    }
}
