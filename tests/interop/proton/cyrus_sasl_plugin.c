/*
 * A Qpid Proton SASL plugin backed by Cyrus SASL, for tests/interop/proton-sasl-tls.test.ts.
 *
 * Debian builds libqpid-proton-core without Cyrus SASL (SASL.extended() is False), so its
 * Proton knows only ANONYMOUS, PLAIN (client side) and EXTERNAL. Proton has a plugin interface
 * for SASL implementations (proton/sasl_plugin.h, exported by libqpid-proton-core): this file
 * implements it on top of libsasl2 (Cyrus 2.1.28, whose libscram.so gives SCRAM-SHA-1, -224,
 * -256, -384 and -512), and quark_cyrus_install() makes it the default implementation of every
 * Proton transport created afterwards in the process. Python loads it with ctypes (see
 * cyrus_sasl.py) before it creates its Container. Proton still does all the framing (the
 * sasl-mechanisms, -init, -challenge, -response and -outcome frames); Cyrus does the mechanisms.
 *
 * The Cyrus declarations are written out below (the ABI of libsasl2.so.2, stable since 2.1.0) so
 * that no development package is needed: only libsasl2-2 (libsasl2.so.2), libsasl2-modules
 * (the mechanism plugins), libsasl2-modules-db (sasldb) and libqpid-proton11-dev (headers).
 *
 * Build: gcc -shared -fPIC -o cyrus_sasl_plugin.so cyrus_sasl_plugin.c \
 *          -l:libqpid-proton-core.so.10 -l:libsasl2.so.2
 */
#include <proton/sasl_plugin.h>
#include <proton/transport.h>
#include <proton/types.h>

#include <stdlib.h>
#include <string.h>

/* ---- Cyrus SASL (sasl/sasl.h), the part this plugin uses ---- */

typedef struct sasl_conn sasl_conn_t;
typedef unsigned sasl_ssf_t;
typedef struct sasl_callback {
  unsigned long id;
  int (*proc)(void);
  void *context;
} sasl_callback_t;
typedef struct sasl_interact {
  unsigned long id;
  const char *challenge;
  const char *prompt;
  const char *defresult;
  const void *result;
  unsigned len;
} sasl_interact_t;
typedef struct sasl_security_properties {
  sasl_ssf_t min_ssf;
  sasl_ssf_t max_ssf;
  unsigned maxbufsize;
  unsigned security_flags;
  const char **property_names;
  const char **property_values;
} sasl_security_properties_t;

#define SASL_OK 0
#define SASL_CONTINUE 1
#define SASL_INTERACT 2
#define SASL_CB_LIST_END 0
#define SASL_CB_USER 0x4001
#define SASL_CB_AUTHNAME 0x4002
#define SASL_CB_PASS 0x4004
#define SASL_PATH_TYPE_CONFIG 1
#define SASL_USERNAME 0
#define SASL_AUTHUSER 16
#define SASL_SSF_EXTERNAL 100
#define SASL_SEC_PROPS 101
#define SASL_AUTH_EXTERNAL 102
#define SASL_SEC_NOPLAINTEXT 0x0001
#define SASL_SEC_NOANONYMOUS 0x0010

int sasl_client_init(const sasl_callback_t *callbacks);
int sasl_server_init(const sasl_callback_t *callbacks, const char *appname);
int sasl_set_path(int path_type, char *path);
int sasl_client_new(const char *service, const char *server_fqdn, const char *iplocalport, const char *ipremoteport,
                    const sasl_callback_t *prompt_supp, unsigned flags, sasl_conn_t **pconn);
int sasl_server_new(const char *service, const char *server_fqdn, const char *user_realm, const char *iplocalport,
                    const char *ipremoteport, const sasl_callback_t *callbacks, unsigned flags, sasl_conn_t **pconn);
int sasl_client_start(sasl_conn_t *conn, const char *mechlist, sasl_interact_t **prompt_need, const char **clientout,
                      unsigned *clientoutlen, const char **mech);
int sasl_client_step(sasl_conn_t *conn, const char *serverin, unsigned serverinlen, sasl_interact_t **prompt_need,
                     const char **clientout, unsigned *clientoutlen);
int sasl_server_start(sasl_conn_t *conn, const char *mech, const char *clientin, unsigned clientinlen,
                      const char **serverout, unsigned *serveroutlen);
int sasl_server_step(sasl_conn_t *conn, const char *clientin, unsigned clientinlen, const char **serverout,
                     unsigned *serveroutlen);
int sasl_listmech(sasl_conn_t *conn, const char *user, const char *prefix, const char *sep, const char *suffix,
                  const char **result, unsigned *plen, int *pcount);
int sasl_setprop(sasl_conn_t *conn, int propnum, const void *value);
int sasl_getprop(sasl_conn_t *conn, int propnum, const void **pvalue);
const char *sasl_errdetail(sasl_conn_t *conn);
const char *sasl_errstring(int saslerr, const char *langlist, const char **outlang);
void sasl_dispose(sasl_conn_t **pconn);

/* ---- Settings (set once, by quark_cyrus_install) ---- */

static char *config_dir;        /* where <config_name>.conf is; NULL: Cyrus's default */
static char *config_name;       /* the server's application name: its config file's name */
static int client_started, server_started;
static int client_init_rc, server_init_rc;

static const char SERVICE[] = "amqp";

static sasl_conn_t *conn_of(pn_transport_t *t) { return (sasl_conn_t *)pnx_sasl_get_context(t); }

/* Reports a Cyrus failure on the transport (its condition) and says whether r was SASL_OK. */
static int ok(pn_transport_t *t, sasl_conn_t *conn, int r) {
  if (r == SASL_OK) return 1;
  pnx_sasl_error(t, conn ? sasl_errdetail(conn) : sasl_errstring(r, NULL, NULL), "amqp:unauthorized-access");
  return 0;
}

static int set_path(void) {
  return config_dir ? sasl_set_path(SASL_PATH_TYPE_CONFIG, config_dir) : SASL_OK;
}

/* Security properties: PLAIN only where Proton allows insecure mechanisms, the TLS layer's SSF
   and client certificate subject for EXTERNAL, no security layer of SASL's own. */
static int configure(pn_transport_t *t, sasl_conn_t *conn) {
  sasl_security_properties_t props;
  memset(&props, 0, sizeof props);
  props.security_flags = (pnx_sasl_get_allow_insecure_mechanisms(t) ? 0 : SASL_SEC_NOPLAINTEXT) |
                         (pnx_sasl_get_authentication_required(t) ? SASL_SEC_NOANONYMOUS : 0);
  props.max_ssf = 0;
  int r = sasl_setprop(conn, SASL_SEC_PROPS, &props);
  if (r != SASL_OK) return r;
  sasl_ssf_t ssf = (sasl_ssf_t)pnx_sasl_get_external_ssf(t);
  r = sasl_setprop(conn, SASL_SSF_EXTERNAL, &ssf);
  if (r != SASL_OK) return r;
  const char *external = pnx_sasl_get_external_username(t);
  return external ? sasl_setprop(conn, SASL_AUTH_EXTERNAL, external) : SASL_OK;
}

/* ---- Client ---- */

static const sasl_callback_t client_prompts[] = {
  {SASL_CB_USER, NULL, NULL},
  {SASL_CB_AUTHNAME, NULL, NULL},
  {SASL_CB_PASS, NULL, NULL},
  {SASL_CB_LIST_END, NULL, NULL},
};

/* Answers Cyrus's prompts with the connection's user, password and authzid. */
static void answer(pn_transport_t *t, sasl_interact_t *prompts) {
  for (sasl_interact_t *p = prompts; p->id != SASL_CB_LIST_END; p++) {
    const char *value = NULL;
    switch (p->id) {
      case SASL_CB_USER: value = pnx_sasl_get_authorization(t); break;
      case SASL_CB_AUTHNAME: value = pnx_sasl_get_username(t); break;
      case SASL_CB_PASS: value = pnx_sasl_get_password(t); break;
      default: break;
    }
    p->result = value ? value : "";
    p->len = value ? (unsigned)strlen(value) : 0;
  }
}

static bool init_client(pn_transport_t *t) {
  if (!client_started) {
    client_started = 1;
    client_init_rc = set_path();
    if (client_init_rc == SASL_OK) client_init_rc = sasl_client_init(NULL);
  }
  if (!ok(t, NULL, client_init_rc)) return false;
  sasl_conn_t *conn = NULL;
  int r = sasl_client_new(SERVICE, pnx_sasl_get_remote_fqdn(t), NULL, NULL, client_prompts, 0, &conn);
  if (r == SASL_OK) {
    pnx_sasl_set_context(t, conn);
    r = configure(t, conn);
  }
  return ok(t, conn, r);
}

static bool process_mechanisms(pn_transport_t *t, const char *mechs) {
  sasl_conn_t *conn = conn_of(t);
  sasl_interact_t *prompts = NULL;
  const char *out = NULL, *mech = NULL;
  unsigned outlen = 0;
  int r;
  while ((r = sasl_client_start(conn, mechs, &prompts, &out, &outlen, &mech)) == SASL_INTERACT) answer(t, prompts);
  if (r != SASL_OK && r != SASL_CONTINUE) {
    ok(t, conn, r);
    return false;
  }
  pnx_sasl_set_bytes_out(t, pn_bytes(outlen, out));
  pnx_sasl_set_selected_mechanism(t, mech);
  pnx_sasl_set_desired_state(t, SASL_POSTED_INIT);
  return true;
}

static void process_challenge(pn_transport_t *t, const pn_bytes_t *in) {
  sasl_conn_t *conn = conn_of(t);
  sasl_interact_t *prompts = NULL;
  const char *out = NULL;
  unsigned outlen = 0;
  int r;
  while ((r = sasl_client_step(conn, in->start, (unsigned)in->size, &prompts, &out, &outlen)) == SASL_INTERACT) answer(t, prompts);
  if (r == SASL_OK || r == SASL_CONTINUE) {
    pnx_sasl_set_bytes_out(t, pn_bytes(outlen, out));
    pnx_sasl_set_desired_state(t, SASL_POSTED_RESPONSE);
  } else {
    ok(t, conn, r);
    pnx_sasl_set_failed(t);
    pnx_sasl_set_desired_state(t, SASL_RECVED_FAILURE);
  }
}

/* The outcome's additional data (SCRAM's server-final "v=..." when it rides on the outcome) is
   not checked by Proton's framing either; nothing to do. */
static void process_outcome(pn_transport_t *t, const pn_bytes_t *in) { (void)t; (void)in; }

/* ---- Server ---- */

static bool init_server(pn_transport_t *t) {
  if (!server_started) {
    server_started = 1;
    server_init_rc = set_path();
    if (server_init_rc == SASL_OK) server_init_rc = sasl_server_init(NULL, config_name ? config_name : "proton-server");
  }
  if (!ok(t, NULL, server_init_rc)) return false;
  sasl_conn_t *conn = NULL;
  /* As Proton's own Cyrus glue: no server name and no realm (Cyrus takes the host name for both,
     so a user "alice" is "alice@<host name>" in sasldb, and "alice@realm" names another realm),
     and no SASL_SUCCESS_DATA flag (SCRAM's server-final message comes as a challenge that the
     client answers with an empty response, not in the outcome). */
  int r = sasl_server_new(SERVICE, NULL, NULL, NULL, NULL, NULL, 0, &conn);
  if (r == SASL_OK) {
    pnx_sasl_set_context(t, conn);
    r = configure(t, conn);
  }
  if (!ok(t, conn, r)) return false;
  pnx_sasl_set_desired_state(t, SASL_POSTED_MECHANISMS);
  return true;
}

static void server_result(pn_transport_t *t, int r, const char *out, unsigned outlen) {
  sasl_conn_t *conn = conn_of(t);
  pnx_sasl_set_bytes_out(t, pn_bytes(outlen, outlen ? out : NULL));
  if (r == SASL_OK) {
    const void *authcid = NULL, *authzid = NULL;
    sasl_getprop(conn, SASL_AUTHUSER, &authcid);
    sasl_getprop(conn, SASL_USERNAME, &authzid);
    pnx_sasl_set_succeeded(t, (const char *)authcid, (const char *)authzid);
    pnx_sasl_set_desired_state(t, SASL_POSTED_OUTCOME);
  } else if (r == SASL_CONTINUE) {
    pnx_sasl_set_desired_state(t, SASL_POSTED_CHALLENGE);
  } else {
    ok(t, conn, r);
    pnx_sasl_set_failed(t);
    pnx_sasl_set_desired_state(t, SASL_POSTED_OUTCOME);
  }
}

static void process_init(pn_transport_t *t, const char *mechanism, const pn_bytes_t *in) {
  const char *out = NULL;
  unsigned outlen = 0;
  /* Cyrus's EXTERNAL reads its initial response as a C string: give it a terminated copy. */
  char *copy = NULL;
  const char *start = in->start;
  if (start) {
    copy = malloc(in->size + 1);
    if (copy) {
      memcpy(copy, in->start, in->size);
      copy[in->size] = 0;
      start = copy;
    }
  }
  int r = sasl_server_start(conn_of(t), mechanism, start, (unsigned)in->size, &out, &outlen);
  free(copy);
  server_result(t, r, out, outlen);
}

static void process_response(pn_transport_t *t, const pn_bytes_t *in) {
  const char *out = NULL;
  unsigned outlen = 0;
  int r = sasl_server_step(conn_of(t), in->start, (unsigned)in->size, &out, &outlen);
  server_result(t, r, out, outlen);
}

/* ---- Both ---- */

static const char *list_mechanisms(pn_transport_t *t) {
  sasl_conn_t *conn = conn_of(t);
  if (!conn) return NULL;
  const char *list = NULL;
  int count = 0;
  int r = sasl_listmech(conn, NULL, "", " ", "", &list, NULL, &count);
  return ok(t, conn, r) ? list : NULL;
}

static void prepare_write(pn_transport_t *t) { (void)t; }

static void dispose(pn_transport_t *t) {
  sasl_conn_t *conn = conn_of(t);
  if (conn) sasl_dispose(&conn);
  pnx_sasl_set_context(t, NULL);
}

/* No SASL security layer (max_ssf 0): TLS is the only encryption. */
static bool can_encrypt(pn_transport_t *t) { (void)t; return false; }
static ssize_t max_encrypt_size(pn_transport_t *t) { (void)t; return 0; }
static ssize_t encode(pn_transport_t *t, pn_bytes_t in, pn_bytes_t *out) { (void)t; (void)in; (void)out; return PN_ERR; }
static ssize_t decode(pn_transport_t *t, pn_bytes_t in, pn_bytes_t *out) { (void)t; (void)in; (void)out; return PN_ERR; }

static const pnx_sasl_implementation cyrus = {
  dispose,
  list_mechanisms,
  init_server,
  init_client,
  prepare_write,
  process_init,
  process_response,
  process_mechanisms,
  process_challenge,
  process_outcome,
  can_encrypt,
  max_encrypt_size,
  encode,
  decode,
};

static char *copy_or_null(const char *s) { return s && *s ? strdup(s) : NULL; }

/* Makes Cyrus the SASL implementation of every transport created from now on. Empty or NULL
   arguments keep Cyrus's defaults (its config path; application "proton-server", as Proton's).
   Call once, before any transport exists. */
void quark_cyrus_install(const char *dir, const char *name) {
  config_dir = copy_or_null(dir);
  config_name = copy_or_null(name);
  pnx_sasl_set_default_implementation(&cyrus);
}
