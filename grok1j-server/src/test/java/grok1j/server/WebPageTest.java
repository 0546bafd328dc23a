package grok1j.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import grok1j.generate.FinishReason;
import grok1j.generate.GenerationResult;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.Keys;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The page at {@code /} in a real browser: headless Chromium driven by Selenium against a server on the tiny
 * fixture. Skipped, saying why, when Chromium or chromedriver is not installed ({@code .ci/run} installs Debian's
 * {@code chromium} and {@code chromium-driver}). Screenshots of each view go to {@code target/web-*.png}.
 */
@Timeout(120)
class WebPageTest {
    static final String PROMPT = "The answer to life the universe and everything is of course";
    static ChromeDriver browser;

    @BeforeAll
    static void openBrowser() {
        Optional<Path> chromium = onPath("chromium", "chromium-browser", "google-chrome");
        Optional<Path> driver = onPath("chromedriver");
        String reason = chromium.isEmpty() ? "no chromium on PATH" : driver.isEmpty() ? "no chromedriver on PATH" : null;
        if (reason != null) {
            System.out.println("WebPageTest skipped: " + reason + " (apt-get install chromium chromium-driver)");
        }
        Assumptions.assumeTrue(reason == null, reason);
        ChromeOptions options = new ChromeOptions();
        options.setBinary(chromium.get().toFile());
        // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
        options.addArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,800");
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(driver.get().toFile())
                .withLogFile(new File("target/chromedriver.log")).usingAnyFreePort().build();
        browser = new ChromeDriver(service, options);
    }

    @AfterAll
    static void closeBrowser() {
        if (browser != null) {
            browser.quit();
        }
    }

    @Test
    void completionStreamsStopsAndChatAnswers() throws Exception {
        // greedy runs at least this long without an end of sequence: the stream does not end before Stop is clicked
        GenerationResult ref = TestModel.greedy(PROMPT, 100);
        assertEquals(FinishReason.LENGTH, ref.finishReason());
        try (OpenAiServer s = TestModel.start(ServerConfig.defaults())) {
            browser.get(s.baseUrl() + "/");
            clearSession();
            browser.navigate().refresh();
            await(() -> text("model-name").startsWith("grok-1-tiny"));
            // a Grok-1 model opens on the completion view
            await(() -> isDisplayed("completion-view"));
            assertFalse(isDisplayed("chat-view"));

            set("temperature", "0");
            set("max_tokens", "4000");
            browser.findElement(By.id("prompt")).sendKeys(PROMPT);
            browser.findElement(By.id("completion-send")).click();
            await(() -> generated().length() > 20); // streamed text appears while the request runs
            assertTrue(isDisplayed("completion-stop"));
            browser.findElement(By.id("completion-stop")).click();
            await(() -> isDisplayed("completion-send"));
            String stopped = generated();
            assertTrue(ref.text().startsWith(stopped) || stopped.startsWith(ref.text()),
                    "streamed text is the greedy text: [" + stopped + "]");
            // the server cancelled the sequence when the page aborted the request
            assertEquals(1, TestModel.awaitMetric(s, "grok1j_sequences_finished_total{reason=\"cancelled\"}", 1,
                    Duration.ofSeconds(30)));
            assertEquals(stopped, generated(), "nothing arrives after Stop");
            assertEquals("stopped", text("completion-status"));
            assertTrue(text("ttft").matches("\\d+\\.\\d\\d s"), text("ttft"));
            assertTrue(Integer.parseInt(text("ntokens")) > 1);
            assertTrue(text("tps").matches("\\d+\\.\\d"), text("tps"));
            screenshot("completion");

            // the chat view: a full answer, as the API gives it without streaming
            browser.findElement(By.id("tab-chat")).click();
            assertTrue(isDisplayed("chat-view"));
            assertFalse(isDisplayed("completion-view"));
            set("max_tokens", "12");
            WebElement input = browser.findElement(By.id("chat-input"));
            input.sendKeys("Hello, who are you?");
            input.sendKeys(Keys.ENTER);
            await(() -> browser.findElements(By.cssSelector("#messages .msg.assistant")).size() == 1
                    && isDisplayed("chat-send"));
            String expected = TestModel.post(s, "/v1/chat/completions", """
                    {"messages": [{"role": "user", "content": "Hello, who are you?"}], "max_tokens": 12,
                     "temperature": 0, "top_p": 1}""").json().get("choices").get(0).get("message").get("content").asText();
            WebElement reply = browser.findElement(By.cssSelector("#messages .msg.assistant"));
            assertEquals(expected, ((JavascriptExecutor) browser).executeScript(
                    "return arguments[0].firstChild ? arguments[0].firstChild.textContent : ''", reply));
            assertEquals("Hello, who are you?", browser.findElement(By.cssSelector("#messages .msg.user")).getText());
            screenshot("chat");
        }
    }

    @Test
    void asksForTheApiKeyAndSendsIt() throws Exception {
        try (OpenAiServer s = TestModel.start(ServerConfig.defaults().withApiKey("sesame"))) {
            browser.get(s.baseUrl() + "/");
            clearSession();
            browser.navigate().refresh();
            await(() -> isDisplayed("key-dialog"));
            assertEquals("API key needed", text("model-name"));
            browser.findElement(By.id("key-input")).sendKeys("sesame");
            screenshot("api-key");
            browser.findElement(By.id("key-save")).click();
            await(() -> text("model-name").startsWith("grok-1-tiny"));
            assertEquals("sesame", ((JavascriptExecutor) browser).executeScript("return sessionStorage.getItem('grok1j.apiKey')"));
            // requests carry it: a completion streams
            set("max_tokens", "5");
            browser.findElement(By.id("prompt")).sendKeys(PROMPT);
            browser.findElement(By.id("completion-send")).click();
            await(() -> !generated().isEmpty() && isDisplayed("completion-send"));
            assertFalse(isDisplayed("error"), () -> text("error"));
        }
    }

    // ------------------------------------------------------------------ helpers

    private static void clearSession() {
        ((JavascriptExecutor) browser).executeScript("sessionStorage.clear()");
    }

    private static String generated() {
        return browser.findElements(By.cssSelector("#completion-output .generated")).stream().findFirst()
                .map(e -> (String) ((JavascriptExecutor) browser).executeScript("return arguments[0].textContent", e))
                .orElse("");
    }

    private static String text(String id) {
        return (String) ((JavascriptExecutor) browser).executeScript("return document.getElementById(arguments[0]).textContent", id);
    }

    private static boolean isDisplayed(String id) {
        return browser.findElement(By.id(id)).isDisplayed();
    }

    private static void set(String id, String value) {
        WebElement e = browser.findElement(By.id(id));
        e.clear();
        e.sendKeys(value);
    }

    private static void await(java.util.function.BooleanSupplier condition) {
        new WebDriverWait(browser, Duration.ofSeconds(30)).until(d -> condition.getAsBoolean());
    }

    private static void screenshot(String view) throws IOException {
        File f = ((TakesScreenshot) browser).getScreenshotAs(OutputType.FILE);
        Path target = Path.of("target");
        Files.createDirectories(target);
        Files.copy(f.toPath(), target.resolve("web-" + view + ".png"), StandardCopyOption.REPLACE_EXISTING);
    }

    private static Optional<Path> onPath(String... names) {
        String path = System.getenv().getOrDefault("PATH", "");
        return Stream.of(names).flatMap(n -> Stream.of(path.split(File.pathSeparator)).map(d -> Path.of(d, n)))
                .filter(Files::isExecutable).findFirst();
    }
}
