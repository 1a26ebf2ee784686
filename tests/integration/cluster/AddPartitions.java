// Adds partitions to a topic through Kafka's Admin client, as an operator's
// kafka-topics.sh --alter --partitions would (the Maven artifacts scripts/kafka
// fetches hold the client, not the tool):
//
//   java -cp '<kafka libs>/*' AddPartitions.java BOOTSTRAP TOPIC TOTAL
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewPartitions;

public class AddPartitions {
  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println("usage: AddPartitions BOOTSTRAP TOPIC TOTAL");
      System.exit(2);
    }
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "20000");
    try (Admin admin = Admin.create(props)) {
      admin.createPartitions(Map.of(args[1], NewPartitions.increaseTo(Integer.parseInt(args[2]))))
          .all().get(60, TimeUnit.SECONDS);
    }
    System.out.println("topic " + args[1] + " now has " + args[2] + " partitions");
  }
}
