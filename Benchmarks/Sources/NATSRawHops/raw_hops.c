// The chain workload over libnats in plain C: see include/NATSRawHops.h.
#include "NATSRawHops.h"

#include <nats/nats.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int failed(const char *what, natsStatus status) {
    fprintf(stderr, "nats raw hops: %s: %s\n", what, natsStatus_GetText(status));
    return 1;
}

double weft_nats_raw_chain_hops(const char *url, const char *name, int chains, int hops_per_chain) {
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    natsStatus s;
    double rate = -1;
    char subject[256];
    snprintf(subject, sizeof subject, "raw.%s", name);

    if ((s = natsConnection_ConnectTo(&nc, url)) != NATS_OK) { failed("connect", s); goto done; }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 65536;
    if ((s = natsConnection_JetStream(&js, nc, &jo)) != NATS_OK) { failed("jetstream", s); goto done; }

    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char *subjects[] = {subject};
    sc.Name = name;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Retention = js_WorkQueuePolicy;
    if ((s = js_AddStream(NULL, js, &sc, NULL, &jerr)) != NATS_OK) { failed("add stream", s); goto done; }

    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = "raw";
    cc.AckPolicy = js_AckExplicit;
    cc.FilterSubject = subject;
    cc.MaxAckPending = 65536;
    if ((s = js_AddConsumer(NULL, js, name, &cc, NULL, &jerr)) != NATS_OK) { failed("add consumer", s); goto done; }
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = name;
    so.Consumer = "raw";
    if ((s = js_PullSubscribe(&sub, js, subject, "raw", NULL, &so, &jerr)) != NATS_OK) { failed("subscribe", s); goto done; }

    for (int i = 0; i < chains; i++) {
        uint32_t remaining = (uint32_t)hops_per_chain;
        if ((s = js_PublishAsync(js, subject, &remaining, sizeof remaining, NULL)) != NATS_OK) { failed("seed", s); goto done; }
    }
    if ((s = js_PublishAsyncComplete(js, NULL)) != NATS_OK) { failed("seed confirmations", s); goto done; }

    long total = (long)chains * hops_per_chain, hops = 0;
    double start = now_seconds();
    while (hops < total) {
        natsMsgList list;
        s = natsSubscription_Fetch(&list, sub, chains, 5000, &jerr);
        if (s == NATS_TIMEOUT) continue;
        if (s != NATS_OK) { failed("fetch", s); goto done; }
        for (int i = 0; i < list.Count; i++) {
            uint32_t remaining;
            memcpy(&remaining, natsMsg_GetData(list.Msgs[i]), sizeof remaining);
            if (remaining > 1) {
                remaining -= 1;
                if ((s = js_PublishAsync(js, subject, &remaining, sizeof remaining, NULL)) != NATS_OK) { failed("publish", s); goto done; }
            }
        }
        if ((s = js_PublishAsyncComplete(js, NULL)) != NATS_OK) { failed("confirmations", s); goto done; }
        for (int i = 0; i < list.Count; i++) {
            if ((s = natsMsg_Ack(list.Msgs[i], NULL)) != NATS_OK) { failed("ack", s); goto done; }
            hops++;
        }
        natsMsgList_Destroy(&list);
    }
    rate = (double)total / (now_seconds() - start);

done:
    if (sub != NULL) natsSubscription_Destroy(sub);
    if (js != NULL) {
        js_DeleteStream(js, name, NULL, NULL);
        jsCtx_Destroy(js);
    }
    if (nc != NULL) natsConnection_Destroy(nc);
    return rate;
}
