// A stand-in for Apache Flume's Avro source and Avro sink, built from the very classes they use:
// Apache Avro 1.8.2's NettyServer / NettyTransceiver (Netty 3.9) with a GenericResponder /
// GenericRequestor for Flume's AvroSourceProtocol. The Rust crate lib/avro-ipc runs it in its
// interop tests (lib/avro-ipc/tests/java_interop.rs).
//
// Classpath: avro-1.8.2, avro-ipc-1.8.2, netty-3.9.9.Final, jackson-{core,mapper}-asl-1.9.13,
// slf4j-api-1.7.16 (see `scripts/stack env`, AVRO_IPC_CLASSPATH).
//
// Usage:
//   server PORT OUTFILE [--fail-first N] [--deflate] [--protocol AVPR]
//       Serves append/appendBatch on 127.0.0.1:PORT (0 = any free port). Appends every event of an
//       accepted call to OUTFILE as one JSON line {"headers":{...},"body_base64":"..."}, flushed
//       before the reply; answers OK, or FAILED (writing nothing) for the first N calls.
//       Prints "PROTOCOL_MD5 <hex>", then "READY <port>". Stops when stdin closes.
//   client HOST PORT EVENTS BATCH [--deflate] [--append] [--protocol AVPR]
//       Sends EVENTS events, headers {"seq": i, "host": "java"} and body "event-i", in appendBatch
//       calls of BATCH events (or one append per event with --append). Prints "STATUS <s>" per
//       call; a FAILED call is resent (up to 5 attempts), as a Flume sink would. Ends with
//       "SENT <n> OK" (exit 0) or "SENT <n> INCOMPLETE" (exit 1).
//
// --deflate puts Netty's ZlibEncoder(6)/ZlibDecoder (zlib wrapper) first in the pipeline, exactly
// as Flume's AvroSource (AdvancedChannelPipelineFactory) and NettyAvroRpcClient
// (SSLCompressionChannelFactory) do for compression-type = deflate.
// --tls-trust PEM (client and replay) speaks TLS as Flume's Avro sink does with ssl = true: a
// JDK SSLEngine in client mode in a Netty SslHandler ahead of compression, trusting the CA
// certificates of the PEM file (Flume's truststore), TLS 1.2 (see SSLCompressionChannelFactory).

import java.io.BufferedWriter;
import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.io.OutputStreamWriter;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManagerFactory;

import org.apache.avro.Protocol;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.ipc.NettyServer;
import org.apache.avro.ipc.NettyTransceiver;
import org.apache.avro.ipc.generic.GenericRequestor;
import org.apache.avro.ipc.generic.GenericResponder;
import org.codehaus.jackson.map.ObjectMapper;
import org.jboss.netty.channel.ChannelPipeline;
import org.jboss.netty.channel.ChannelPipelineFactory;
import org.jboss.netty.channel.Channels;
import org.jboss.netty.channel.socket.SocketChannel;
import org.jboss.netty.channel.socket.nio.NioClientSocketChannelFactory;
import org.jboss.netty.channel.socket.nio.NioServerSocketChannelFactory;
import org.jboss.netty.handler.codec.compression.ZlibDecoder;
import org.jboss.netty.handler.codec.compression.ZlibEncoder;
import org.jboss.netty.handler.ssl.SslHandler;

public class FlumeAvroPeer {
  private static final String EVENT_TYPE = "org.apache.flume.source.avro.AvroFlumeEvent";
  private static final String STATUS_TYPE = "org.apache.flume.source.avro.Status";
  private static final int COMPRESSION_LEVEL = 6; // Flume's default

  public static void main(String[] args) throws Exception {
    if (args.length < 1) usage();
    List<String> positional = new ArrayList<>();
    boolean deflate = false, append = false;
    int failFirst = 0;
    String avpr = "schemas/avro/flume.avpr";
    String tlsTrust = null;
    for (int i = 1; i < args.length; i++) {
      switch (args[i]) {
        case "--deflate": deflate = true; break;
        case "--append": append = true; break;
        case "--fail-first": failFirst = Integer.parseInt(args[++i]); break;
        case "--protocol": avpr = args[++i]; break;
        case "--tls-trust": tlsTrust = args[++i]; break;
        default: positional.add(args[i]);
      }
    }
    Protocol protocol = Protocol.parse(new File(avpr));
    System.out.println("PROTOCOL_MD5 " + hex(protocol.getMD5()));
    System.out.flush();
    try {
      if (args[0].equals("server") && positional.size() == 2) {
        server(protocol, Integer.parseInt(positional.get(0)), positional.get(1), failFirst, deflate);
      } else if (args[0].equals("client") && positional.size() == 4) {
        boolean ok = client(protocol, positional.get(0), Integer.parseInt(positional.get(1)),
            Integer.parseInt(positional.get(2)), Integer.parseInt(positional.get(3)), deflate, tlsTrust, append);
        System.exit(ok ? 0 : 1);
      } else if (args[0].equals("replay") && positional.size() == 4) {
        boolean ok = replay(protocol, positional.get(0), Integer.parseInt(positional.get(1)),
            positional.get(2), Integer.parseInt(positional.get(3)), deflate, tlsTrust);
        System.exit(ok ? 0 : 1);
      } else {
        usage();
      }
    } catch (Exception e) {
      System.out.println("ERROR " + e);
      e.printStackTrace();
      System.exit(1);
    }
  }

  private static void usage() {
    System.err.println("usage: FlumeAvroPeer server PORT OUTFILE [--fail-first N] [--deflate] [--protocol AVPR]\n"
        + "       FlumeAvroPeer client HOST PORT EVENTS BATCH [--deflate] [--tls-trust PEM] [--append] [--protocol AVPR]\n"
        + "       FlumeAvroPeer replay HOST PORT JSONL BATCH [--deflate] [--tls-trust PEM] [--protocol AVPR]");
    System.exit(2);
  }

  // ------------------------------------------------------------------------------------ server

  private static void server(Protocol protocol, int port, String outFile, int failFirst, boolean deflate)
      throws Exception {
    final Schema statusSchema = protocol.getType(STATUS_TYPE);
    final ObjectMapper json = new ObjectMapper();
    final BufferedWriter out = new BufferedWriter(
        new OutputStreamWriter(new FileOutputStream(outFile, true), StandardCharsets.UTF_8));
    final int[] calls = {0};
    GenericResponder responder = new GenericResponder(protocol) {
      @Override
      @SuppressWarnings("unchecked")
      public Object respond(Protocol.Message message, Object request) throws Exception {
        GenericRecord params = (GenericRecord) request;
        List<GenericRecord> events = message.getName().equals("appendBatch")
            ? (List<GenericRecord>) params.get("events")
            : Collections.singletonList((GenericRecord) params.get("event"));
        synchronized (out) {
          calls[0]++;
          if (calls[0] <= failFirst) {
            return new GenericData.EnumSymbol(statusSchema, "FAILED");
          }
          for (GenericRecord event : events) {
            Map<String, String> headers = new LinkedHashMap<>();
            for (Map.Entry<?, ?> h : ((Map<?, ?>) event.get("headers")).entrySet()) {
              headers.put(h.getKey().toString(), h.getValue().toString());
            }
            ByteBuffer body = ((ByteBuffer) event.get("body")).duplicate();
            byte[] bytes = new byte[body.remaining()];
            body.get(bytes);
            Map<String, Object> line = new LinkedHashMap<>();
            line.put("headers", headers);
            line.put("body_base64", Base64.getEncoder().encodeToString(bytes));
            out.write(json.writeValueAsString(line));
            out.write('\n');
          }
          out.flush();
        }
        return new GenericData.EnumSymbol(statusSchema, "OK");
      }
    };
    ChannelPipelineFactory pipeline = new ChannelPipelineFactory() {
      @Override
      public ChannelPipeline getPipeline() {
        ChannelPipeline p = Channels.pipeline();
        if (deflate) {
          p.addFirst("deflater", new ZlibEncoder(COMPRESSION_LEVEL));
          p.addFirst("inflater", new ZlibDecoder());
        }
        return p;
      }
    };
    NettyServer server = new NettyServer(responder, new InetSocketAddress("127.0.0.1", port),
        new NioServerSocketChannelFactory(Executors.newCachedThreadPool(), Executors.newCachedThreadPool()),
        pipeline, null);
    server.start();
    System.out.println("READY " + server.getPort());
    System.out.flush();
    while (System.in.read() != -1) {
      // Runs until the test closes our stdin.
    }
    server.close();
    synchronized (out) {
      out.close();
    }
    System.exit(0);
  }

  // ------------------------------------------------------------------------------------ client

  /**
   * What Flume's NettyAvroRpcClient passes to NettyTransceiver for compression-type = deflate
   * and/or ssl = true: TLS outermost (added first last), compression inside it.
   */
  private static class SSLCompressionChannelFactory extends NioClientSocketChannelFactory {
    private final boolean deflate;
    private final SSLContext tls;
    private final String host;
    private final int port;

    SSLCompressionChannelFactory(boolean deflate, SSLContext tls, String host, int port) {
      super(Executors.newCachedThreadPool(), Executors.newCachedThreadPool());
      this.deflate = deflate;
      this.tls = tls;
      this.host = host;
      this.port = port;
    }

    @Override
    public SocketChannel newChannel(ChannelPipeline pipeline) {
      if (deflate) {
        pipeline.addFirst("deflater", new ZlibEncoder(COMPRESSION_LEVEL));
        pipeline.addFirst("inflater", new ZlibDecoder());
      }
      if (tls != null) {
        SSLEngine engine = tls.createSSLEngine(host, port);
        engine.setUseClientMode(true);
        // Netty 3.9's SslHandler cannot drive the JDK's TLS 1.3 handshake (it stalls on the
        // server's compatibility ChangeCipherSpec): Flume on JDK 11+ runs its Avro sink with
        // TLS 1.2 (include-protocols = TLSv1.2), and so does this peer.
        engine.setEnabledProtocols(new String[] {"TLSv1.2"});
        pipeline.addFirst("ssl", new SslHandler(engine));
      }
      return super.newChannel(pipeline);
    }
  }

  /** An SSLContext trusting the CA certificates of a PEM file (Flume's truststore). */
  private static SSLContext trusting(String pem) throws Exception {
    KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
    store.load(null, null);
    int n = 0;
    try (InputStream in = new FileInputStream(pem)) {
      for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
        store.setCertificateEntry("ca" + n++, c);
      }
    }
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(store);
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(null, tmf.getTrustManagers(), null);
    return context;
  }

  /**
   * Sends the events of a JSON-lines file ({"headers": {...}, "body_base64": "..."}) with
   * appendBatch, as a Flume Avro sink would: the fan-out agent's interoperability test.
   */
  @SuppressWarnings("unchecked")
  private static boolean replay(Protocol protocol, String host, int port, String jsonl, int batch,
      boolean deflate, String tlsTrust) throws Exception {
    ObjectMapper json = new ObjectMapper();
    List<Map<String, String>> headers = new ArrayList<>();
    List<byte[]> bodies = new ArrayList<>();
    for (String line : java.nio.file.Files.readAllLines(java.nio.file.Paths.get(jsonl), StandardCharsets.UTF_8)) {
      if (line.isEmpty()) continue;
      Map<String, Object> v = json.readValue(line, Map.class);
      headers.add((Map<String, String>) v.get("headers"));
      bodies.add(Base64.getDecoder().decode((String) v.get("body_base64")));
    }
    return send(protocol, host, port, headers, bodies, batch, deflate, tlsTrust, false);
  }

  private static boolean client(Protocol protocol, String host, int port, int events, int batch,
      boolean deflate, String tlsTrust, boolean append) throws Exception {
    List<Map<String, String>> headers = new ArrayList<>();
    List<byte[]> bodies = new ArrayList<>();
    for (int i = 0; i < events; i++) {
      Map<String, String> h = new LinkedHashMap<>();
      h.put("seq", Integer.toString(i));
      h.put("host", "java");
      headers.add(h);
      bodies.add(("event-" + i).getBytes(StandardCharsets.UTF_8));
    }
    return send(protocol, host, port, headers, bodies, batch, deflate, tlsTrust, append);
  }

  private static boolean send(Protocol protocol, String host, int port, List<Map<String, String>> headerList,
      List<byte[]> bodies, int batch, boolean deflate, String tlsTrust, boolean append) throws Exception {
    int events = bodies.size();
    InetSocketAddress addr = new InetSocketAddress(host, port);
    SSLContext tls = tlsTrust == null ? null : trusting(tlsTrust);
    NettyTransceiver transceiver = deflate || tls != null
        ? new NettyTransceiver(addr, new SSLCompressionChannelFactory(deflate, tls, host, port))
        : new NettyTransceiver(addr);
    GenericRequestor requestor = new GenericRequestor(protocol, transceiver);
    Schema eventSchema = protocol.getType(EVENT_TYPE);
    String messageName = append ? "append" : "appendBatch";
    Protocol.Message message = protocol.getMessages().get(messageName);
    int step = append ? 1 : batch;
    int sent = 0;
    boolean complete = true;
    for (int start = 0; start < events; start += step) {
      int end = Math.min(start + step, events);
      List<GenericRecord> records = new ArrayList<>();
      for (int i = start; i < end; i++) {
        GenericRecord event = new GenericData.Record(eventSchema);
        event.put("headers", headerList.get(i));
        event.put("body", ByteBuffer.wrap(bodies.get(i)));
        records.add(event);
      }
      GenericRecord params = new GenericData.Record(message.getRequest());
      if (append) {
        params.put("event", records.get(0));
      } else {
        params.put("events", new GenericData.Array<>(message.getRequest().getField("events").schema(), records));
      }
      String status = "FAILED";
      for (int attempt = 0; attempt < 5 && !status.equals("OK"); attempt++) {
        status = requestor.request(messageName, params).toString();
        System.out.println("STATUS " + status);
      }
      if (status.equals("OK")) {
        sent += records.size();
      } else {
        complete = false;
      }
    }
    System.out.println("SENT " + sent + (complete ? " OK" : " INCOMPLETE"));
    System.out.flush();
    transceiver.close();
    return complete;
  }

  private static String hex(byte[] bytes) {
    StringBuilder sb = new StringBuilder();
    for (byte b : bytes) sb.append(String.format("%02x", b));
    return sb.toString();
  }
}
